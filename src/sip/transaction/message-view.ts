import type { CSeq, Via } from '../types.js';

/**
 * The parts of a SIP message the transaction layer reads (RFC 3261 §17.1.3, §17.2.3).
 * SipRequest/SipResponse from ../message.js satisfy these structurally; keeping the layer
 * on this view lets it be tested without the parser.
 */
export interface RequestView {
  readonly isRequest: true;
  readonly method: string;
  topVia(): Via | undefined;
  cseq(): CSeq;
  callId(): string;
  fromTag(): string | undefined;
  toTag(): string | undefined;
}

export interface ResponseView {
  readonly isRequest: false;
  readonly status: number;
  topVia(): Via | undefined;
  cseq(): CSeq;
}

/** Builds the messages the layer itself originates. */
export interface MessageFactory<Req extends RequestView, Res extends ResponseView> {
  /** A response to `request` copying Via/From/To/Call-ID/CSeq (RFC 3261 §8.2.6.2). */
  createResponse(request: Req, status: number, reason?: string): Res;
  /** The ACK for a non-2xx final response (RFC 3261 §17.1.1.3). */
  createAck(invite: Req, response: Res): Req;
  /**
   * A response's wire bytes. Server transactions keep these, not the response, for their
   * retransmissions (RFC 3261 §17.2.1, §17.2.2), and the transport sends them as they are.
   */
  serialize(response: Res): Buffer;
  /** About the bytes a request occupies in memory, parsed, for the transaction layer's memory bound. */
  byteSize?(request: Req): number;
}

/** RFC 3261 §8.1.1.7: branches from compliant implementations start with this cookie. */
export const BRANCH_MAGIC_COOKIE = 'z9hG4bK';

/** Default port of a Via's sent-by when it has none (RFC 3261 §18.2.1, §19.1.2). */
export function sentByOf(via: Via): string {
  const port = via.port ?? (via.transport === 'TLS' ? 5061 : 5060);
  return `${via.host.toLowerCase()}:${port}`;
}

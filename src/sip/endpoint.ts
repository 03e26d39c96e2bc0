/**
 * The UA core the gateway builds on: transport + transaction layer behind one object.
 * It is a library: it originates and matches transactions, answers OPTIONS when asked to,
 * and hands every new request to the application, which decides what to do with calls.
 *
 * It codes against small interfaces (EndpointTransport, EndpointMessageOps) that the
 * transport layer and message model satisfy, so it can be tested without sockets.
 */
import type { Clock } from '../util/index.js';
import { SipParseError } from './grammar.js';
import {
  type ClientTransaction,
  type ClientTransactionUser,
  DEFAULT_TIMER_PROFILE,
  type MessageFactory,
  type RequestView,
  type ResponseView,
  type ServerTransaction,
  type TimerProfile,
  TransactionManager,
  type TransactionMemoryLimits,
} from './transaction/index.js';
import type { SendOptions, TransportAddress, Via } from './types.js';

/**
 * RFC 3261 §18.1.1: with the path MTU unknown, a request larger than 1300 bytes MUST go over a
 * congestion-controlled transport (TCP), not as a UDP datagram that IP would fragment (and
 * that many firewalls and carrier SBCs drop in pieces).
 */
export const MAX_UDP_REQUEST_BYTES = 1300;

/**
 * How long a request moved to TCP for its size waits for the connection before it goes over
 * UDP after all, in T1s: a carrier that drops the SYN unanswered would otherwise hold it for
 * the connect deadline (64*T1). Four T1s (2 s) cover one lost SYN (Linux resends it after 1 s).
 */
const TCP_CONNECT_BEFORE_UDP_T1S = 4;
/**
 * After a destination took no TCP (refused, or not up in time), its large requests stay on
 * UDP this long instead of waiting on TCP again for every call; then TCP is tried afresh.
 */
const NO_TCP_MEMORY_MS = 10 * 60_000;
/** Destinations remembered as taking no TCP, at most (the oldest forgotten first). */
export const MAX_NO_TCP_DESTINATIONS = 1024;

/**
 * Whether a request with this method and top Via matches a live server transaction
 * (RFC 3261 §17.2.3), asked by a transport before parsing so retransmissions skip its rate limit.
 */
export type RetransmissionProbe = (method: string, topVia: Via) => boolean;

/** Where #noTcpUntil keeps a destination: its address and port, whatever the transport. */
function noTcpKey(destination: TransportAddress): string {
  return `${destination.address}:${destination.port}`;
}

/** SipEndpoint.largeRequests: what became of requests too large for UDP, since start. */
export interface LargeRequestCounts {
  movedToTcp: number;
  backToUdp: number;
  keptOnUdp: number;
}

export interface EndpointTransport<Msg> {
  /** Sends a message, or a message already serialized (a server transaction's response). */
  send(message: Msg | Buffer, destination: TransportAddress, options?: SendOptions): Promise<void>;
  onMessage(
    handler: (message: Msg, source: TransportAddress, local: TransportAddress) => void,
    isRetransmission?: RetransmissionProbe,
  ): void;
  isReliable(transport: TransportAddress['transport']): boolean;
  /** Whether requests can go out over `transport` (a TCP listener exists); absent: only as addressed. */
  supports?(transport: TransportAddress['transport']): boolean;
}

export interface EndpointMessageOps<Req extends RequestView, Res extends ResponseView>
  extends MessageFactory<Req, Res> {
  /** Prepends a Via with `sentBy` and a fresh z9hG4bK branch (RFC 3261 §8.1.1.7). */
  addVia(request: Req, sentBy: TransportAddress): void;
  /** The request's top Via names `sentBy`'s transport and address instead; its branch stays. */
  moveTopVia(request: Req, sentBy: TransportAddress): void;
  /** The request's size on the wire, in bytes. */
  wireLength(request: Req): number;
}

export type RequestHandler<Req extends RequestView, Res extends ResponseView> = (
  request: Req,
  transaction: ServerTransaction<Req, Res>,
  source: TransportAddress,
) => void;

/** What the application above the endpoint is told; each hook has exactly one owner, given at construction. */
export interface EndpointApplication<Req extends RequestView, Res extends ResponseView> {
  /** New requests (not ACK) with their server transaction; answer with `transaction.respond`. */
  onRequest: RequestHandler<Req, Res>;
  /** ACKs for 2xx responses, which belong to the dialog (RFC 3261 §13.3.1.4). */
  onAck?(ack: Req, source: TransportAddress): void;
  /** Responses matching no transaction: 2xx retransmissions the UAC core must re-ACK. */
  onStrayResponse?(response: Res, source: TransportAddress): void;
  /** An INVITE was cancelled; the transaction layer already answered 200 and 487 (§9.2). */
  onCancel?(invite: ServerTransaction<Req, Res>, cancel: Req): void;
  /** A server transaction could not send its response (transport error) or got no ACK in time. */
  onServerFailure?(transaction: ServerTransaction<Req, Res>, reason: 'timeout' | 'transport'): void;
}

export interface SipEndpointOptions<Req extends RequestView, Res extends ResponseView> {
  transport: EndpointTransport<Req | Res>;
  application: EndpointApplication<Req, Res>;
  ops: EndpointMessageOps<Req, Res>;
  clock: Clock;
  /** The sent-by this endpoint advertises for a transport (RFC 3261 §18.1.1). */
  sentBy(transport: TransportAddress['transport']): TransportAddress;
  /**
   * Status for an out-of-dialog OPTIONS (e.g. 200, or 503 while draining) or undefined to
   * pass it to the request handler like any other request (RFC 3261 §11.2).
   */
  optionsStatus?: () => number | undefined;
  /** Malformed input or a failing handler; the message is dropped (or answered 500). */
  onError?: (error: unknown, message: Req | Res) => void;
  profile?: TimerProfile;
  maxTransactions?: number;
  /** Bytes server transactions may hold, per source and in all (beyond: 503). */
  transactionMemory?: Partial<TransactionMemoryLimits>;
}

export class SipEndpoint<Req extends RequestView, Res extends ResponseView> {
  readonly transactions: TransactionManager<Req, Res>;
  readonly #options: SipEndpointOptions<Req, Res>;
  readonly #tcpConnectBeforeUdpMs: number;
  /** Destinations that took no TCP lately (address:port), with when TCP is tried again. */
  readonly #noTcpUntil = new Map<string, number>();
  #movedToTcp = 0;
  #fellBackToUdp = 0;
  #keptOnUdp = 0;

  constructor(options: SipEndpointOptions<Req, Res>) {
    this.#options = options;
    this.#tcpConnectBeforeUdpMs =
      TCP_CONNECT_BEFORE_UDP_T1S * (options.profile?.t1 ?? DEFAULT_TIMER_PROFILE.t1);
    const { application } = options;
    this.transactions = new TransactionManager<Req, Res>({
      clock: options.clock,
      factory: options.ops,
      send: (message, destination, sendOptions) => options.transport.send(message, destination, sendOptions),
      isReliable: (transport) => options.transport.isReliable(transport),
      onRequest: (request, transaction, source) => this.#dispatch(request, transaction, source),
      onAck: (ack, source) => application.onAck?.(ack, source),
      onStrayResponse: (response, source) => application.onStrayResponse?.(response, source),
      onCancel: (invite, cancel) => application.onCancel?.(invite, cancel),
      onServerFailure: (transaction, reason) => application.onServerFailure?.(transaction, reason),
      ...(options.profile ? { profile: options.profile } : {}),
      ...(options.maxTransactions ? { maxTransactions: options.maxTransactions } : {}),
      ...(options.transactionMemory ? { memory: options.transactionMemory } : {}),
    });
    options.transport.onMessage(
      (message, source) => this.#receive(message, source),
      (method, topVia) => this.transactions.matchesServerTransaction(method, topVia),
    );
  }

  /**
   * Adds a Via with a fresh branch and starts a client transaction to `destination`, over TCP
   * to the same address and port if it is addressed to UDP and too large for it (§18.1.1); if
   * that connection fails before any response, the transaction goes on over UDP after all.
   */
  sendRequest(
    request: Req,
    destination: TransportAddress,
    user: ClientTransactionUser<Res>,
  ): ClientTransaction<Req, Res> {
    const { ops, sentBy } = this.#options;
    ops.addVia(request, sentBy(destination.transport));
    const sized = this.#sizedFor(request, destination);
    if (sized === destination) return this.transactions.sendRequest(request, destination, user);
    return this.transactions.sendRequest(request, sized, user, {
      destination,
      prepare: () => this.#backToUdp(request, destination),
      connectWithinMs: this.#tcpConnectBeforeUdpMs,
    });
  }

  /**
   * Sends a CANCEL (its own transaction, RFC 3261 §9.1) where its INVITE went: over TCP when
   * the INVITE's Via, which the CANCEL repeats, says the INVITE went over TCP for its size.
   */
  sendCancel(cancel: Req, inviteDestination: TransportAddress): ClientTransaction<Req, Res> {
    return this.transactions.sendRequest(cancel, this.#asItsVia(cancel, inviteDestination), {});
  }

  /**
   * Sends a 2xx ACK (its own transaction, RFC 3261 §17.1.1.3). A retransmitted 2xx is answered
   * with the same ACK (§13.2.2.4), so the Via is added only the first time, and the ACK goes
   * again over the transport its Via names.
   */
  sendAck(ack: Req, destination: TransportAddress): Promise<void> {
    const { ops, transport, sentBy } = this.#options;
    if (ack.topVia()) return transport.send(ack, this.#asItsVia(ack, destination));
    ops.addVia(ack, sentBy(destination.transport));
    const sized = this.#sizedFor(ack, destination);
    if (sized === destination) return transport.send(ack, destination);
    return transport.send(ack, sized, { connectWithinMs: this.#tcpConnectBeforeUdpMs }).catch(() => {
      this.#backToUdp(ack, destination);
      return transport.send(ack, destination);
    });
  }

  /**
   * `destination`, or the same address over TCP for a request addressed to UDP that is larger
   * than MAX_UDP_REQUEST_BYTES, its top Via changed to match (§18.1.1). Without a TCP transport,
   * or to a destination that took no TCP lately, it stays on UDP.
   */
  #sizedFor(request: Req, destination: TransportAddress): TransportAddress {
    const { ops, transport, sentBy } = this.#options;
    if (destination.transport !== 'udp' || !transport.supports?.('tcp')) return destination;
    if (ops.wireLength(request) <= MAX_UDP_REQUEST_BYTES) return destination;
    if (this.#tookNoTcpLately(destination)) {
      this.#keptOnUdp++;
      return destination;
    }
    ops.moveTopVia(request, sentBy('tcp'));
    this.#movedToTcp++;
    return { ...destination, transport: 'tcp' };
  }

  /**
   * A request moved to TCP whose connection failed or was not up in time, before any response
   * (a carrier that takes no TCP): it goes over UDP after all, as addressed, its Via saying so
   * again, and the destination's next large requests stay on UDP for NO_TCP_MEMORY_MS.
   */
  #backToUdp(request: Req, destination: TransportAddress): void {
    this.#options.ops.moveTopVia(request, this.#options.sentBy('udp'));
    this.#fellBackToUdp++;
    const key = noTcpKey(destination);
    this.#noTcpUntil.delete(key); // re-inserted last: the map's order is the forgetting order
    this.#noTcpUntil.set(key, this.#options.clock.now() + NO_TCP_MEMORY_MS);
    if (this.#noTcpUntil.size > MAX_NO_TCP_DESTINATIONS) {
      const oldest = this.#noTcpUntil.keys().next().value;
      if (oldest !== undefined) this.#noTcpUntil.delete(oldest);
    }
  }

  #tookNoTcpLately(destination: TransportAddress): boolean {
    const key = noTcpKey(destination);
    const until = this.#noTcpUntil.get(key);
    if (until === undefined) return false;
    if (this.#options.clock.now() < until) return true;
    this.#noTcpUntil.delete(key);
    return false;
  }

  /** A request that repeats an earlier one's Via (CANCEL, a repeated ACK) goes over TCP if that Via does. */
  #asItsVia(request: Req, destination: TransportAddress): TransportAddress {
    return destination.transport === 'udp' && request.topVia()?.transport === 'TCP'
      ? { ...destination, transport: 'tcp' }
      : destination;
  }

  /**
   * Since start: requests addressed to UDP that went over TCP for their size (§18.1.1); of
   * those, the ones sent over UDP after all, their TCP connection having failed or not come up
   * in time; and those kept on UDP, their destination having taken no TCP lately.
   */
  get largeRequests(): LargeRequestCounts {
    return { movedToTcp: this.#movedToTcp, backToUdp: this.#fellBackToUdp, keptOnUdp: this.#keptOnUdp };
  }

  close(): void {
    this.transactions.close();
  }

  /**
   * Bad input never throws past the socket handler (a lazily parsed header may throw on
   * access); a request whose handler fails gets a 500 if nothing was sent yet.
   */
  #receive(message: Req | Res, source: TransportAddress): void {
    try {
      if (message.isRequest) this.transactions.receiveRequest(message, source);
      else this.transactions.receiveResponse(message, source);
    } catch (error) {
      this.#options.onError?.(error, message);
      // Headers the parser did not check broke before a transaction existed: answer statelessly.
      if (message.isRequest && message.method !== 'ACK' && error instanceof SipParseError) {
        this.#options.transport.send(this.#rejection(message, error), source).catch(() => undefined);
      }
    }
  }

  /** RFC 3261 §8.2: a request with a header we cannot parse is answered 400 saying which. */
  #rejection(request: Req, error: SipParseError): Res {
    return this.#options.ops.createResponse(request, 400, `Bad Request (${error.summary})`);
  }

  #dispatch(request: Req, transaction: ServerTransaction<Req, Res>, source: TransportAddress): void {
    const optionsStatus =
      request.method === 'OPTIONS' && !request.toTag() ? this.#options.optionsStatus?.() : undefined;
    if (optionsStatus !== undefined) {
      transaction.respond(this.#options.ops.createResponse(request, optionsStatus));
      return;
    }
    try {
      this.#options.application.onRequest(request, transaction, source);
    } catch (error) {
      this.#options.onError?.(error, request);
      if (transaction.state !== 'proceeding' && transaction.state !== 'trying') return;
      // A header that fails to parse while the application reads it is the peer's fault.
      transaction.respond(
        error instanceof SipParseError
          ? this.#rejection(request, error)
          : this.#options.ops.createResponse(request, 500, 'Server Internal Error'),
      );
    }
  }
}

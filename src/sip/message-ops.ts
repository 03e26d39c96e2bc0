/**
 * Building messages: responses (RFC 3261 §8.2.6), ACK for non-2xx (§17.1.1.3), Via with
 * branch and rport (§8.1.1.7, RFC 3581), tags and Call-IDs.
 */
import { randomBytes } from 'node:crypto';
import type { EndpointMessageOps } from './endpoint.js';
import { headerKey, type SipMessage, SipRequest, SipResponse } from './message.js';
import { serializeMessage } from './parser.js';
import { BRANCH_MAGIC_COOKIE } from './transaction/index.js';
import type { TransportAddress } from './types.js';
import { uriHost } from './uri.js';

/** RFC 3261 §21 reason phrases for the codes patchbay sends. */
const REASONS: Record<number, string> = {
  100: 'Trying',
  180: 'Ringing',
  181: 'Call Is Being Forwarded',
  183: 'Session Progress',
  200: 'OK',
  202: 'Accepted',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  420: 'Bad Extension',
  422: 'Session Interval Too Small',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  491: 'Request Pending',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  505: 'Version Not Supported',
  513: 'Message Too Large',
  603: 'Decline',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? (status < 300 ? 'OK' : 'Error');
}

/**
 * The delta-seconds of a Retry-After (RFC 3261 §20.33: `delta-seconds [comment] *(; param)`),
 * undefined when absent, zero or not a number of seconds.
 */
export function retryAfterSec(message: SipResponse): number | undefined {
  const match = /^\s*(\d{1,10})\s*(?:[(;]|$)/.exec(message.get('retry-after') ?? '');
  const seconds = Number(match?.[1]);
  return seconds > 0 ? seconds : undefined;
}

/** Enough for any RFC 3261 §21 phrase and a carrier's short note. */
const MAX_REASON_PHRASE = 64;

/**
 * A peer's Reason-Phrase fit for logs and call records: control and format characters (bidi
 * overrides included) become spaces, runs of white space one, at most MAX_REASON_PHRASE code
 * points; the §21 phrase of `status` when nothing is left.
 */
export function boundedReasonPhrase(phrase: string, status: number): string {
  const printable = phrase.replace(/[\p{Cc}\p{Cf}\s]+/gu, ' ').trim();
  return Array.from(printable).slice(0, MAX_REASON_PHRASE).join('').trimEnd() || reasonPhrase(status);
}

/**
 * Random bytes drawn from the CSPRNG a pool at a time: every response needs a To tag, and a
 * randomBytes call per tag cost 5 µs where a slice of the pool costs 0.15 µs.
 */
const RANDOM_POOL_BYTES = 4096;
let randomPool = Buffer.alloc(0);
let randomPoolOffset = 0;

/** Random identifiers with at least 32 bits of randomness (RFC 3261 §19.3). */
export function randomToken(bytes = 8): string {
  if (randomPoolOffset + bytes > randomPool.length) {
    randomPool = randomBytes(Math.max(RANDOM_POOL_BYTES, bytes));
    randomPoolOffset = 0;
  }
  const token = randomPool.toString('hex', randomPoolOffset, randomPoolOffset + bytes);
  randomPoolOffset += bytes;
  return token;
}

function newBranch(): string {
  return `${BRANCH_MAGIC_COOKIE}${randomToken(8)}`;
}

/**
 * A response copying Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6.2). Every response
 * above 100 gets the request's one local To tag, so provisional and final responses of a
 * transaction agree. 100 Trying copies Timestamp (§8.2.6.1).
 */
export function createResponse(
  request: SipRequest,
  status: number,
  reason = reasonPhrase(status),
): SipResponse {
  const response = new SipResponse(status, reason);
  copyLines(request, response, 'Via');
  const from = request.get('from');
  const to = request.get('to');
  if (from !== undefined) response.append('From', from);
  if (to !== undefined) {
    const needsTag = status > 100 && !hasTag(request);
    request.localTag ??= randomToken();
    response.append('To', needsTag ? `${to};tag=${request.localTag}` : to);
  }
  const callId = request.get('call-id');
  const cseq = request.get('cseq');
  if (callId !== undefined) response.append('Call-ID', callId);
  if (cseq !== undefined) response.append('CSeq', cseq);
  const timestamp = request.get('timestamp');
  if (status === 100 && timestamp !== undefined) response.append('Timestamp', timestamp);
  // RFC 3261 §12.1.1: a response that establishes a dialog carries the request's Record-Route,
  // so the caller's in-dialog requests pass the proxies that asked to stay on the path.
  if (request.method === 'INVITE' && status > 100 && status < 300 && !hasTag(request))
    copyLines(request, response, 'Record-Route');
  return response;
}

/** Appends every line of header `name` of `from` to `to`, in order (no getAll array). */
function copyLines(from: SipMessage, to: SipMessage, name: string): void {
  const key = headerKey(name);
  for (const header of from.headers) if (header.key === key) to.append(name, header.value);
}

function hasTag(request: SipRequest): boolean {
  try {
    return request.toTag() !== undefined;
  } catch {
    return false;
  }
}

/**
 * The ACK for a non-2xx final response: same Request-URI, Call-ID, From, CSeq number and top
 * Via as the INVITE, the response's To (with its tag), the INVITE's Route (RFC 3261 §17.1.1.3).
 */
export function createAck(invite: SipRequest, response: SipResponse): SipRequest {
  const ack = new SipRequest('ACK', invite.uri);
  const topVia = invite.get('via');
  if (topVia !== undefined) ack.append('Via', topVia.split(',')[0] as string);
  ack.append('Max-Forwards', '70');
  ack.append('From', invite.get('from') ?? '');
  ack.append('To', response.get('to') ?? invite.get('to') ?? '');
  ack.append('Call-ID', invite.callId());
  ack.append('CSeq', `${invite.cseq().seq} ACK`);
  copyLines(invite, ack, 'Route');
  return ack;
}

/** CANCEL: same Request-URI, Call-ID, From, To, CSeq number and top Via as the INVITE (§9.1). */
export function createCancel(invite: SipRequest): SipRequest {
  const cancel = new SipRequest('CANCEL', invite.uri);
  cancel.append('Via', invite.listValues('via')[0] ?? '');
  for (const name of ['max-forwards', 'from', 'to', 'call-id', 'route']) {
    for (const value of invite.getAll(name)) cancel.append(name, value);
  }
  cancel.append('CSeq', `${invite.cseq().seq} CANCEL`);
  return cancel;
}

/** RFC 3261 §18.1.1 sent-by with RFC 3581 `rport` asking the peer to answer our source port. */
export function addVia(request: SipRequest, sentBy: TransportAddress): void {
  request.prepend(
    'Via',
    `SIP/2.0/${sentBy.transport.toUpperCase()} ${uriHost(sentBy.address)}:${sentBy.port};branch=${newBranch()};rport`,
  );
}

/** The top Via names `sentBy` (RFC 3261 §18.1.1: a request moved to TCP for its size); the branch stays. */
export function moveTopVia(request: SipRequest, sentBy: TransportAddress): void {
  const top = request.topVia();
  if (!top) return;
  top.transport = sentBy.transport.toUpperCase();
  top.host = uriHost(sentBy.address);
  top.port = sentBy.port;
  request.writeBackTopVia();
}

/**
 * Heap a parsed message occupies besides its text: the message object, the parsed views read
 * so far (Via, CSeq, Request-URI; From, To and Contact once read), and per header line its
 * field object. Measured (node, compiled) as heap + ArrayBuffers per parsed request kept:
 * OPTIONS of 8 header lines ~5.3 KB, INVITEs with SDP of 9 and 29 lines ~6.7 and ~9.2 KB,
 * OPTIONS with a 4 KB and a 60 KB header ~9.3 and ~65.3 KB; a ringing INVITE's transaction
 * holds ~7.2 KB against ~7.6 KB charged (bench/sip-transaction-memory.ts).
 */
const PARSED_MESSAGE_BYTES = 4096;
const PARSED_HEADER_BYTES = 100;

/** About the bytes a parsed message holds in memory: its text, body and parsed form. */
export function byteSize(message: SipMessage): number {
  let bytes = message.body.length + (message.isRequest ? message.uri.length : message.reason.length) + 16;
  for (const header of message.headers) bytes += header.name.length + header.value.length + 4;
  return bytes + PARSED_MESSAGE_BYTES + PARSED_HEADER_BYTES * message.headers.length;
}

/**
 * A response's wire bytes in a buffer of their own: a server transaction keeps them for its
 * retransmissions (up to 64*T1), and a slice of Node's shared pool would pin an 8 KB slab.
 */
function serializeResponse(response: SipResponse): Buffer {
  const wire = serializeMessage(response);
  const owned = Buffer.allocUnsafeSlow(wire.length);
  wire.copy(owned);
  return owned;
}

/** The message operations the endpoint and transaction layer need. */
export const messageOps: EndpointMessageOps<SipRequest, SipResponse> = {
  createResponse,
  createAck,
  addVia,
  moveTopVia,
  wireLength: (request) => serializeMessage(request).length,
  serialize: serializeResponse,
  byteSize,
};

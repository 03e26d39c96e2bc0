/**
 * SIP message parser and serializer (RFC 3261 §7, §25). The parser checks what every layer
 * depends on (start line, header syntax, Content-Length framing, the headers the transaction
 * layer matches on) and leaves the rest to lazy accessors.
 */
import { isToken, SipParseError } from './grammar.js';
import { headerKey, type SipMessage, SipRequest, SipResponse } from './message.js';
import type { Via } from './types.js';
import { isPlainNameAddr, parseVia } from './uri.js';

/** Larger than any sane SIP message; UDP datagrams are at most 65 507 bytes anyway. */
export const DEFAULT_MAX_MESSAGE_BYTES = 65_535;

export interface ParseOptions {
  maxMessageBytes?: number;
  /**
   * Datagram transports: a Content-Length beyond the data is an error (RFC 3261 §18.3) and a
   * missing one means "the rest of the datagram". Stream transports frame by Content-Length.
   */
  datagram?: boolean;
}

const CRLF_CRLF = Buffer.from('\r\n\r\n');
const LF_LF = Buffer.from('\n\n');

/** Where the header section ends and the body starts, or undefined if not yet complete. */
export function findHeaderEnd(data: Buffer, from = 0): { headerEnd: number; bodyStart: number } | undefined {
  const crlf = data.indexOf(CRLF_CRLF, from);
  const lf = data.indexOf(LF_LF, from);
  // Bare LF line endings are tolerated on receipt (RFC 3261 §7.5 leniency).
  if (lf >= 0 && (crlf < 0 || lf < crlf)) return { headerEnd: lf, bodyStart: lf + 2 };
  if (crlf >= 0) return { headerEnd: crlf, bodyStart: crlf + 4 };
  return undefined;
}

/**
 * Parses one whole message. Throws SipParseError; when the request line and the headers
 * needed to answer were readable, the error carries the request so the caller can send 400.
 */
export function parseMessage(data: Buffer, options: ParseOptions = {}): SipMessage {
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (data.length > maxBytes)
    throw new SipParseError(`message of ${data.length} bytes exceeds ${maxBytes}`, 513);
  // RFC 3261 §7.5: ignore CRLFs before the start line.
  const start = skipLineBreaks(data, 0);
  // A datagram is one message, so one whose blank line got lost still ends at the datagram.
  const end =
    findHeaderEnd(data, start) ?? (options.datagram !== false ? unterminatedEnd(data, start) : undefined);
  if (!end) throw new SipParseError('no empty line after the headers');
  const firstLineEnd = lineEnd(data, start, end.headerEnd);
  const message = parseStartLine(decodeLine(data, start, firstLineEnd));
  try {
    addHeaderLines(message, data, firstLineEnd + 1, end.headerEnd);
    message.body = frameBody(message, data, end.bodyStart, options.datagram ?? true);
    if (message.isRequest && message.startLineError) throw message.startLineError;
    if (message.isRequest) checkRequestCore(message);
    else checkResponseCore(message);
  } catch (error) {
    if (error instanceof SipParseError && message.isRequest)
      throw new SipRequestError(error.message, error.status, message);
    throw error;
  }
  return message;
}

function unterminatedEnd(data: Buffer, start: number): { headerEnd: number; bodyStart: number } | undefined {
  if (data[data.length - 1] !== 0x0a) return undefined;
  let end = data.length;
  while (end > start && (data[end - 1] === 0x0a || data[end - 1] === 0x0d)) end--;
  return { headerEnd: end, bodyStart: data.length };
}

/** What a message's first line says, read without parsing it. */
export type StartLineSniff = { kind: 'response' } | { kind: 'request'; method: string };

const SNIFF_REQUEST_LINE = /^([A-Za-z0-9\-.!%*_+`'~]+) .* SIP\/\d+\.\d+\s*$/;
const SNIFF_STATUS_LINE = /^SIP\/\d+\.\d+ \d{3}/;

/**
 * Whether `data` starts like a SIP message (RFC 3261 §7.1, §7.2: a request line or a status
 * line), and its method: cheap enough to run on every datagram before the rate limit and
 * the parse, so garbage costs one line's look. Undefined means it cannot be SIP.
 */
export function sniffStartLine(data: Buffer): StartLineSniff | undefined {
  const line = firstLine(data, skipLineBreaks(data, 0));
  if (line === undefined) return undefined;
  if (SNIFF_STATUS_LINE.test(line)) return { kind: 'response' };
  const method = SNIFF_REQUEST_LINE.exec(line)?.[1];
  return method === undefined ? undefined : { kind: 'request', method };
}

/**
 * The top Via of a message, read by scanning header lines only up to the first Via
 * (§17.2.3 matching needs its branch and sent-by), or undefined if it cannot be read.
 */
export function sniffTopVia(data: Buffer): Via | undefined {
  let start = data.indexOf(0x0a, skipLineBreaks(data, 0)) + 1;
  while (start > 0 && start < data.length) {
    const line = firstLine(data, start);
    if (line === undefined || line === '') return undefined;
    const colon = line.indexOf(':');
    if (colon > 0 && headerKey(line.slice(0, colon).trimEnd()) === 'via') {
      try {
        const comma = line.indexOf(',', colon + 1);
        return parseVia(line.slice(colon + 1, comma < 0 ? line.length : comma).trim());
      } catch {
        return undefined;
      }
    }
    start = data.indexOf(0x0a, start) + 1;
  }
  return undefined;
}

function skipLineBreaks(data: Buffer, from: number): number {
  let start = from;
  while (data[start] === 0x0d || data[start] === 0x0a) start++;
  return start;
}

/** The line starting at `start` without its CRLF, or undefined if no line break follows. */
function firstLine(data: Buffer, start: number): string | undefined {
  const end = data.indexOf(0x0a, start);
  if (end < 0) return undefined;
  return data.toString('latin1', start, end > start && data[end - 1] === 0x0d ? end - 1 : end);
}

/** A request that failed validation but whose headers were readable enough to answer. */
export class SipRequestError extends SipParseError {
  constructor(
    message: string,
    status: number,
    readonly request: SipRequest,
  ) {
    super(message, status);
  }
}

/** Where the line starting at `from` ends (its LF, or `end`). */
function lineEnd(data: Buffer, from: number, end: number): number {
  const lf = data.indexOf(0x0a, from);
  return lf < 0 || lf > end ? end : lf;
}

/** The line from `from` to its LF at `next`, without a CR before the LF. */
function decodeLine(data: Buffer, from: number, next: number): string {
  return data.toString('utf8', from, next > from && data[next - 1] === 0x0d ? next - 1 : next);
}

/**
 * Adds the header lines between `start` and `end`, each decoded on its own (no UTF-8 sequence
 * contains LF): a substring of one big decoded string would keep all of it alive for as long
 * as any one header value is kept (a Via copied into a stored response, a Call-ID in a dialog).
 * RFC 3261 §7.3.1: a line starting with whitespace continues the previous header.
 */
function addHeaderLines(message: SipMessage, data: Buffer, start: number, end: number): void {
  let header: string | undefined;
  for (let from = start; from <= end; ) {
    const next = lineEnd(data, from, end);
    const line = decodeLine(data, from, next);
    if (header !== undefined && (line.startsWith(' ') || line.startsWith('\t'))) {
      header += ` ${line.trim()}`;
    } else {
      if (header !== undefined) addHeaderLine(message, header);
      header = line;
    }
    from = next + 1;
  }
  if (header !== undefined) addHeaderLine(message, header);
}

const REQUEST_LINE = /^([^ ]+) ([^ ]+) SIP\/(\d+\.\d+)$/;
const STATUS_LINE = /^SIP\/(\d+\.\d+) (\d{3})(?: (.*))?$/;

function parseStartLine(line: string): SipMessage {
  if (line.startsWith('SIP/')) {
    const match = STATUS_LINE.exec(line);
    const status = Number(match?.[2]);
    if (!match || status < 100 || status > 699) throw new SipParseError(`bad status line '${line}'`);
    if (match[1] !== '2.0') throw new SipParseError(`unsupported version ${match[1]}`, 505);
    return new SipResponse(status, match[3] ?? '');
  }
  // RFC 4475 §3.1.2.5/§3.1.2.8/§3.1.2.9: exactly one SP between elements, none trailing.
  const match = REQUEST_LINE.exec(line);
  if (match?.[1] && match[2] && isToken(match[1])) {
    const request = new SipRequest(match[1], match[2]);
    if (match[3] !== '2.0')
      request.startLineError = new SipParseError(`unsupported version SIP/${match[3]}`, 505);
    return request;
  }
  // A mangled request line still ending in SIP/2.0 is answered 400 if the headers allow it.
  const method = line.split(/\s/)[0] ?? '';
  if (!/\sSIP\/2\.0\s*$/.test(line) || !isToken(method))
    throw new SipParseError(`bad request line '${line}'`);
  const request = new SipRequest(method, '');
  request.startLineError = new SipParseError(`bad request line '${line}'`);
  return request;
}

function addHeaderLine(message: SipMessage, line: string): void {
  const colon = line.indexOf(':');
  const name = line.slice(0, Math.max(colon, 0)).trimEnd();
  if (colon <= 0 || !isToken(name)) throw new SipParseError(`bad header line '${line.slice(0, 40)}'`);
  // Past the usual single space first: trim() of the rest then has nothing to cut, so the value
  // is one string rather than a slice and its trimmed copy.
  let valueStart = colon + 1;
  while (line.charCodeAt(valueStart) === 0x20) valueStart++;
  message.append(name, line.slice(valueStart).trim());
}

function frameBody(message: SipMessage, data: Buffer, bodyStart: number, datagram: boolean): Buffer {
  const available = data.length - bodyStart;
  const lines = message.count('content-length');
  if (lines === 0) return detach(data, bodyStart, datagram ? data.length : bodyStart);
  const text = message.get('content-length') as string;
  // RFC 4475 §3.1.2.11 mcl01 and §3.1.2.12 ncl: one non-negative integer only.
  if (lines > 1 || !DECIMAL.test(text)) {
    throw new SipParseError(`bad Content-Length '${message.getAll('content-length').join(', ')}'`);
  }
  const length = Number(text);
  if (length > available)
    throw new SipParseError(`Content-Length ${length} exceeds the ${available} bytes received`);
  return detach(data, bodyStart, bodyStart + length);
}

const EMPTY_BODY = Buffer.alloc(0);

/** A copy of the body: a view (even an empty one) would keep the whole received buffer alive. */
function detach(data: Buffer, start: number, end: number): Buffer {
  return end > start ? Buffer.from(data.subarray(start, end)) : EMPTY_BODY;
}

/** Content-Length and Max-Forwards: a non-negative integer (kept below 2**30). */
const DECIMAL = /^\d{1,9}$/;
const SINGLE_HEADERS = ['call-id', 'cseq', 'from', 'to', 'max-forwards', 'content-type'] as const;
const REQUIRED_HEADERS = ['call-id', 'cseq', 'from', 'to'] as const;

/**
 * What every request must carry to be matched and answered (RFC 3261 §8.1.1, §8.2.2). Via,
 * CSeq and the Request-URI are parsed here (every layer reads them); From, To and Contact
 * only when they are not plainly well-formed (see checkNameAddr), so a malformed one is
 * answered 400 at the transport as before while the rest are parsed when first read.
 */
function checkRequestCore(request: SipRequest): void {
  for (const key of SINGLE_HEADERS) {
    if (request.count(key) > 1) throw new SipParseError(`repeated ${key} header`);
  }
  for (const key of REQUIRED_HEADERS) {
    if (!request.has(key)) throw new SipParseError(`missing ${key} header`);
  }
  if (request.vias().length === 0) throw new SipParseError('missing Via header');
  checkNameAddr(request, 'from');
  checkNameAddr(request, 'to');
  if (request.has('contact')) checkNameAddr(request, 'contact');
  const cseq = request.cseq();
  // RFC 4475 §3.1.2.17 mismatch01: the CSeq method must match the request method (§8.1.1.5).
  if (cseq.method !== request.method)
    throw new SipParseError('CSeq method does not match the request method');
  const maxForwards = request.get('max-forwards');
  if (maxForwards !== undefined && !DECIMAL.test(maxForwards)) throw new SipParseError('bad Max-Forwards');
  const uri = request.requestUri();
  if (uri.scheme !== 'sip' && uri.scheme !== 'sips' && uri.scheme !== 'tel') {
    throw new SipParseError(`unsupported URI scheme ${uri.scheme}`, 416);
  }
}

function checkResponseCore(response: SipResponse): void {
  if (response.vias().length === 0) throw new SipParseError('response without Via');
  response.cseq();
  checkNameAddr(response, 'from');
  checkNameAddr(response, 'to');
  response.callId();
  if (response.status >= 200 && response.status < 300) checkTargetRefresh(response);
}

/**
 * A 2xx to INVITE or UPDATE sets the dialog's remote target from its Contact, a 2xx to INVITE
 * its route set from Record-Route (RFC 3261 §12.1.2, §12.2.1.2, RFC 3311 §5.1). One where they
 * do not parse is dropped here, before any transaction or dialog takes it: a well-formed
 * retransmission (§13.2.2.4, §17.1.1.2) still can.
 */
function checkTargetRefresh(response: SipResponse): void {
  const method = response.cseq().method;
  if (method !== 'INVITE' && method !== 'UPDATE') return;
  if (response.has('contact')) checkNameAddr(response, 'contact');
  if (method === 'INVITE' && response.has('record-route')) response.routes('Record-Route');
}

/**
 * Makes sure From, To or Contact parses. A single line of a plain shape (isPlainNameAddr)
 * cannot fail to, so its parse waits for its first read (a refused request never reads its
 * From or Contact); any other is parsed now, failing with the error it always did.
 */
function checkNameAddr(message: SipMessage, key: 'from' | 'to' | 'contact'): void {
  const value = message.get(key);
  if (value !== undefined && message.count(key) === 1 && isPlainNameAddr(value)) return;
  if (key === 'from') message.from();
  else if (key === 'to') message.to();
  else message.contacts();
}

/** Serializes with canonical names and a Content-Length computed from the body (§20.14). */
export function serializeMessage(message: SipMessage): Buffer {
  let head = message.isRequest
    ? `${message.method} ${message.uri} SIP/2.0\r\n`
    : `SIP/2.0 ${message.status} ${message.reason}\r\n`;
  for (const header of message.headers) {
    if (header.key !== 'content-length') head += `${header.name}: ${header.value}\r\n`;
  }
  head += `Content-Length: ${message.body.length}\r\n\r\n`;
  if (message.body.length === 0) return Buffer.from(head, 'utf8');
  return Buffer.concat([Buffer.from(head, 'utf8'), message.body]);
}

/**
 * The SIP message model (RFC 3261 §7). Headers are kept as raw lines in arrival order and
 * parsed lazily on first access, so headers the gateway never reads cost nothing; parsed
 * values are cached until that header is modified.
 */
import { indexOutside, mediaType, SipParseError, splitList } from './grammar.js';
import type { CSeq, NameAddr, SipUri, Via } from './types.js';
import { parseCSeq, parseNameAddr, parseUri, parseVia, serializeVia } from './uri.js';

/** RFC 3261 §7.3.3 compact forms, plus RFC 3515/3892/4028/3265/8224 ones seen on trunks. */
const COMPACT_FORMS: Record<string, string> = {
  i: 'call-id',
  m: 'contact',
  e: 'content-encoding',
  l: 'content-length',
  c: 'content-type',
  f: 'from',
  s: 'subject',
  k: 'supported',
  t: 'to',
  v: 'via',
  o: 'event',
  r: 'refer-to',
  b: 'referred-by',
  u: 'allow-events',
  x: 'session-expires',
  y: 'identity',
};

/** Spellings that capitalising each word would get wrong. */
const SPECIAL_NAMES: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
  rack: 'RAck',
  rseq: 'RSeq',
  'p-asserted-identity': 'P-Asserted-Identity',
  // As their specifications spell them (draft-ietf-sip-privacy-04, RFC 7433 §4.1).
  'remote-party-id': 'Remote-Party-ID',
  'user-to-user': 'User-to-User',
};

/** Memo of name → key and key → canonical name; bounded so hostile header names cannot grow it. */
const keyMemo = new Map<string, string>();
const canonicalMemo = new Map<string, string>();
const MAX_MEMO = 2000;

function remember(memo: Map<string, string>, name: string, value: string): string {
  if (memo.size < MAX_MEMO) memo.set(name, value);
  return value;
}

/** A table's own entry: a header named `constructor` or `__proto__` must not find Object.prototype's. */
function ownEntry(table: Record<string, string>, key: string): string | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** Lower-case long form of a header name (compact forms expanded). */
export function headerKey(name: string): string {
  const known = keyMemo.get(name);
  if (known !== undefined) return known;
  const lower = name.toLowerCase();
  return remember(keyMemo, name, ownEntry(COMPACT_FORMS, lower) ?? lower);
}

/** The canonical spelling written by the serializer. */
function canonicalHeaderName(name: string): string {
  const key = headerKey(name);
  const known = canonicalMemo.get(key);
  if (known !== undefined) return known;
  const spelled =
    ownEntry(SPECIAL_NAMES, key) ??
    key.replace(/(^|-)([a-z])/g, (_match, dash: string, char: string) => dash + char.toUpperCase());
  return remember(canonicalMemo, key, spelled);
}

export interface HeaderField {
  /** Canonical spelling. */
  name: string;
  /** Lower-case long form, for matching. */
  key: string;
  value: string;
}

const EMPTY_BODY = Buffer.alloc(0);

abstract class SipMessageBase {
  readonly headers: HeaderField[] = [];
  body: Buffer = EMPTY_BODY;
  // Parsed views, each dropped when its header changes (see #invalidate). Fields rather than a
  // Map: every parsed request fills most of them, and a Map per message was garbage too.
  #vias: Via[] | undefined;
  #cseq: CSeq | undefined;
  #from: NameAddr | undefined;
  #to: NameAddr | undefined;
  #contacts: NameAddr[] | undefined;
  #routes: NameAddr[] | undefined;
  #recordRoutes: NameAddr[] | undefined;

  get(name: string): string | undefined {
    const key = headerKey(name);
    for (const header of this.headers) if (header.key === key) return header.value;
    return undefined;
  }

  /** Every line of a header, unsplit. */
  getAll(name: string): string[] {
    const key = headerKey(name);
    const values: string[] = [];
    for (const header of this.headers) if (header.key === key) values.push(header.value);
    return values;
  }

  /** How many lines a header has (a scan: no array, unlike getAll). */
  count(name: string): number {
    const key = headerKey(name);
    let lines = 0;
    for (const header of this.headers) if (header.key === key) lines++;
    return lines;
  }

  /** Values of a list header (Via, Route, Contact, Supported...) across lines and commas. */
  listValues(name: string): string[] {
    const key = headerKey(name);
    const values: string[] = [];
    try {
      for (const header of this.headers) if (header.key === key) splitList(header.value, values);
    } catch (error) {
      // Name the header, so the 400 tells the peer what to fix.
      if (error instanceof SipParseError)
        throw new SipParseError(`${canonicalHeaderName(name)}: ${error.message}`, error.status);
      throw error;
    }
    return values;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  append(name: string, value: string): this {
    const key = headerKey(name);
    this.#invalidate(key);
    this.headers.push({ name: canonicalHeaderName(key), key, value });
    return this;
  }

  /** Inserts before the first line of the same header, or at the top (Via, Route: §8.1.1.7). */
  prepend(name: string, value: string): this {
    this.#invalidate(name);
    const key = headerKey(name);
    const index = this.headers.findIndex((header) => header.key === key);
    this.headers.splice(Math.max(index, 0), 0, { name: canonicalHeaderName(name), key, value });
    return this;
  }

  set(name: string, value: string): this {
    const key = headerKey(name);
    const index = this.headers.findIndex((header) => header.key === key);
    if (index < 0) return this.append(name, value);
    this.remove(name);
    this.headers.splice(index, 0, { name: canonicalHeaderName(name), key, value });
    return this;
  }

  /** Replaces every line of a list header with `values`, one per line, at its first position. */
  setList(name: string, values: readonly string[]): this {
    const key = headerKey(name);
    const found = this.headers.findIndex((header) => header.key === key);
    const index = found < 0 ? this.headers.length : found;
    this.remove(name);
    const fields = values.map((value) => ({ name: canonicalHeaderName(name), key, value }));
    this.headers.splice(index, 0, ...fields);
    return this;
  }

  remove(name: string): this {
    this.#invalidate(name);
    const key = headerKey(name);
    for (let i = this.headers.length - 1; i >= 0; i--) {
      if (this.headers[i]?.key === key) this.headers.splice(i, 1);
    }
    return this;
  }

  setBody(body: Buffer | string, contentType?: string): this {
    this.body = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    if (contentType !== undefined) this.set('Content-Type', contentType);
    else if (this.body.length === 0) this.remove('Content-Type');
    return this;
  }

  vias(): Via[] {
    this.#vias ??= this.#parsedList('via', parseVia);
    return this.#vias;
  }

  topVia(): Via | undefined {
    return this.vias()[0];
  }

  /**
   * Writes the top Via, changed in place through `topVia()` (`received`, `rport`: RFC 3581
   * §4), back into the header text. The other Via values keep their text and the parsed list
   * stays as it is, so stamping a request does not make every later reader parse its Vias
   * again; a first line carrying more than one value is split after the first.
   */
  writeBackTopVia(): void {
    const top = this.#vias?.[0];
    const index = this.headers.findIndex((header) => header.key === 'via');
    const line = this.headers[index];
    if (!top || !line) return;
    const comma = indexOutside(line.value, ',', 0);
    const rest = comma < line.value.length ? line.value.slice(comma + 1).trim() : '';
    line.value = serializeVia(top);
    if (rest.length > 0) this.headers.splice(index + 1, 0, { name: line.name, key: line.key, value: rest });
  }

  cseq(): CSeq {
    this.#cseq ??= parseCSeq(this.#single('cseq'));
    return this.#cseq;
  }

  callId(): string {
    return this.#single('call-id').trim();
  }

  from(): NameAddr {
    this.#from ??= parseNameAddr(this.#single('from'));
    return this.#from;
  }

  to(): NameAddr {
    this.#to ??= parseNameAddr(this.#single('to'));
    return this.#to;
  }

  fromTag(): string | undefined {
    return this.from().params.get('tag') ?? undefined;
  }

  toTag(): string | undefined {
    return this.to().params.get('tag') ?? undefined;
  }

  /** Contact values; `*` (REGISTER) is not a name-addr and is skipped. */
  contacts(): NameAddr[] {
    this.#contacts ??= this.#parsedList('contact', parseNameAddr, '*');
    return this.#contacts;
  }

  /** Record-Route (or Route) values as name-addrs, in header order. */
  routes(name: 'Route' | 'Record-Route'): NameAddr[] {
    if (name === 'Route') {
      this.#routes ??= this.#parsedList('route', parseNameAddr);
      return this.#routes;
    }
    this.#recordRoutes ??= this.#parsedList('record-route', parseNameAddr);
    return this.#recordRoutes;
  }

  contentType(): string | undefined {
    const value = this.get('content-type');
    return value === undefined ? undefined : mediaType(value);
  }

  /** A list header's values parsed one by one, leaving out `skip`. */
  #parsedList<T>(key: string, parse: (value: string) => T, skip?: string): T[] {
    const parsed: T[] = [];
    for (const value of this.listValues(key)) if (value !== skip) parsed.push(parse(value));
    return parsed;
  }

  /** The single value of a header that must appear once (RFC 3261 §7.3.1). */
  #single(key: string): string {
    const lines = this.count(key);
    if (lines !== 1)
      throw new SipParseError(`${lines === 0 ? 'missing' : 'repeated'} ${canonicalHeaderName(key)}`);
    return this.get(key) as string;
  }

  /** Drops the parsed view of a header that changed. */
  #invalidate(name: string): void {
    switch (headerKey(name)) {
      case 'via':
        this.#vias = undefined;
        break;
      case 'cseq':
        this.#cseq = undefined;
        break;
      case 'from':
        this.#from = undefined;
        break;
      case 'to':
        this.#to = undefined;
        break;
      case 'contact':
        this.#contacts = undefined;
        break;
      case 'route':
        this.#routes = undefined;
        break;
      case 'record-route':
        this.#recordRoutes = undefined;
        break;
    }
  }
}

export class SipRequest extends SipMessageBase {
  readonly isRequest = true as const;
  #parsedUri: SipUri | undefined;
  /** Our To tag for responses to this request, so 1xx/2xx/4xx share one (RFC 3261 §8.2.6.2). */
  localTag: string | undefined;
  /** Set by the parser when the request line is unusable but the headers may still be answered. */
  startLineError: Error | undefined;

  constructor(
    public method: string,
    public uri: string,
  ) {
    super();
  }

  /** A copy with the same start line, headers and body (for retries with new credentials). */
  clone(): SipRequest {
    const copy = new SipRequest(this.method, this.uri);
    for (const header of this.headers) copy.headers.push({ ...header });
    copy.body = this.body;
    return copy;
  }

  requestUri(): SipUri {
    this.#parsedUri ??= parseUri(this.uri);
    return this.#parsedUri;
  }

  setUri(uri: string): void {
    this.uri = uri;
    this.#parsedUri = undefined;
  }
}

export class SipResponse extends SipMessageBase {
  readonly isRequest = false as const;

  constructor(
    public status: number,
    public reason: string,
  ) {
    super();
  }
}

export type SipMessage = SipRequest | SipResponse;

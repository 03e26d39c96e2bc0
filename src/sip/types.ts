/**
 * The contract of the SIP stack's layers: message.ts and parser.ts implement the message
 * model; transport/, transaction/ and dialog.ts code against these types only.
 */

/**
 * A parsed URI (RFC 3261 §19.1). Values are %-unescaped; serialize re-escapes. Schemes other
 * than sip/sips/tel are kept opaque (RFC 4475 §3.1.2.9: unknown schemes in headers are legal).
 */
export interface SipUri {
  /** Lower-cased: 'sip', 'sips', 'tel' or any other scheme (then `opaque` holds the rest). */
  scheme: string;
  user?: string;
  password?: string;
  host: string;
  port?: number;
  /**
   * URI parameters; a flag parameter (`;lr`) has the value null. Names lower-cased. Read-only:
   * a parsed URI without parameters shares one empty instance; copy to change.
   */
  params: ReadonlyMap<string, string | null>;
  /** URI headers (`?subject=x`), read-only as `params`. */
  headers: ReadonlyMap<string, string>;
  /** Everything after `scheme:` for schemes patchbay does not interpret. */
  opaque?: string;
}

/** name-addr / addr-spec with header parameters (From, To, Contact, Route...). */
export interface NameAddr {
  displayName?: string;
  uri: SipUri;
  /** Header parameters after the URI (`;tag=...`). Names lower-cased, flags null; read-only as a URI's. */
  params: ReadonlyMap<string, string | null>;
}

/** One Via value (RFC 3261 §20.42). */
export interface Via {
  /** e.g. 'UDP', 'TCP', 'TLS', 'WS' (upper-cased). */
  transport: string;
  host: string;
  port?: number;
  /** branch, received, rport (null when present without value), maddr, ttl... */
  params: Map<string, string | null>;
}

export interface CSeq {
  seq: number;
  method: string;
}

/** Where a message came from or goes to, as the transport layer sees it. */
export interface TransportAddress {
  transport: 'udp' | 'tcp' | 'tls' | 'ws';
  address: string;
  port: number;
  /**
   * Over TLS, the name a server we connect to must have a certificate for (RFC 5922 §4: the
   * SIP domain that was resolved to `address`); default `address` itself.
   */
  serverName?: string;
  /**
   * Where a message came from over TLS: the names the peer's certificate, verified against
   * the trusted CAs, speaks for (tls-identity.ts `peerIdentities`); absent when the peer
   * showed no verified certificate (a TLS listener that does not ask clients for one).
   */
  peerNames?: readonly string[];
}

export interface SendOptions {
  /**
   * Over TCP or TLS, how long a connection that is not open yet may take to come up before
   * this send fails with a transport error; absent: the transport's own connect deadline.
   */
  connectWithinMs?: number;
}

/**
 * Why a request was refused without being served (a bounded set: a metric label). The
 * transport sheds before or after parsing (rate_limited, oversize, malformed, unknown_source;
 * queue_full: a source's datagrams waiting to be parsed past its share),
 * the transaction layer when it is full (overload) or holds too many bytes (memory).
 */
export const SHED_REASONS = [
  'rate_limited',
  'oversize',
  'malformed',
  'unknown_source',
  'queue_full',
  'overload',
  'memory',
] as const;
export type ShedReason = (typeof SHED_REASONS)[number];

/**
 * A registration (RFC 3261 §10.2): keeps our Contact bound to an address-of-record at a
 * registrar. Every REGISTER of the binding shares one Call-ID with an increasing CSeq
 * (§10.2.4); challenges are answered with digest (§22.2, one DigestClient counting nonce uses);
 * the interval the registrar grants (our Contact's `expires`, else Expires, §10.2.4) is
 * refreshed at half its length; 423 is retried with the registrar's Min-Expires (§10.2.8);
 * failures are retried after a capped, jittered exponential backoff (as RFC 5626 §4.5 does for
 * flows), never sooner than a Retry-After (§21.5.4); `stop()` removes the binding (Expires: 0,
 * §10.2.2). The addresses the registrar answered from are kept while the binding they made
 * stands: the registrar sends calls to our Contact from there.
 *
 * Behind a NAT: when the registrar's answer says our REGISTER came from another address (or
 * over UDP, port) than our Via names (RFC 3581 `received` and `rport`), the binding is moved
 * at once to a Contact at that public address (the old one removed with expires=0, §10.2.2),
 * as the NAT maps it. Over UDP, CRLF keep-alives (RFC 5626 §3.5.1's ping, which SIP stacks
 * ignore on UDP) go to the registrar every `keepAliveSec`, so the NAT keeps that mapping open
 * for the calls the registrar sends between refreshes; over TCP or TLS the public address is
 * the connection's, reached over it, and the connection's keep-alive holds it open. A binding
 * whose TCP or TLS connection closes is refreshed over a new one within seconds
 * (registration-flow.ts).
 */
import { isIP } from 'node:net';
import type { Clock, TimerHandle } from '../util/index.js';
import { TypedEmitter } from '../util/index.js';
import { answersChallenge, type DigestChallenge, DigestClient, pickChallenge } from './digest.js';
import { SipRequest, type SipResponse } from './message.js';
import { boundedReasonPhrase, randomToken, retryAfterSec } from './message-ops.js';
import { natMapped, type PublicAddress } from './nat-mapping.js';
import { RegistrationFlow } from './registration-flow.js';
import type { NameAddr, TransportAddress } from './types.js';
import { parseNameAddr, uriHost } from './uri.js';
import type { Exchanged } from './user-agent.js';

/** Why a registration attempt failed: a bounded set (a metric label); details go in `detail`. */
const REGISTRATION_FAILURES = [
  'timeout',
  'transport_error',
  /** The registrar's name gave no server to send to (RFC 3263: NAPTR, SRV, A/AAAA). */
  'dns_failure',
  /** 401/407 again after our credentials, a challenge we cannot answer (another realm), or 403. */
  'auth_rejected',
  /** 423 more often than MAX_INTERVAL_RETRIES, or without a usable Min-Expires. */
  'interval_too_brief',
  /** Any other final status (404, 5xx, 6xx...). */
  'rejected',
  /** A 2xx without a usable interval for our binding (expires=0 or not a number), or a challenge without a qop we know. */
  'bad_response',
] as const;
type RegistrationFailure = (typeof REGISTRATION_FAILURES)[number];

export type RegistrationStatus = { failures: number } & (
  | { state: 'unregistered' | 'registering' }
  | { state: 'registered'; expiresSec: number; expiresAt: string }
  | { state: 'failed'; cause: RegistrationFailure; detail: string; retryAt: string }
);

export interface RegistrationEvents {
  state: [status: RegistrationStatus];
  /** The outcome of each attempt to register (first, refresh or retry), for counting. */
  attempt: [result: 'registered' | RegistrationFailure];
  /** The registrar saw us behind a NAT at this new address (UDP): the binding moves there. */
  publicAddress: [address: PublicAddress];
}

/** Nothing was sent: the registrar's name gave no server (`detail`: what DNS said). */
export interface RegistrarNotFound {
  dnsFailure: string;
}

/** What a registration needs of the user agent (SipUserAgent), or of a link locating the registrar. */
export interface RegistrarLink {
  exchange(request: SipRequest, destination: TransportAddress): Promise<Exchanged | RegistrarNotFound>;
  /** Our Contact for `transport`, at `at` instead of our own address when given. */
  contactHeader(
    transport: TransportAddress['transport'],
    secure?: boolean,
    user?: string,
    at?: PublicAddress,
  ): string;
  /** A keep-alive datagram (CRLF CRLF) to `destination`; failures are not reported. */
  keepAlive(destination: TransportAddress): void;
  /** Our Contact `user` is now at `at` (undefined: at our own address again), for the calls to it. */
  contactMoved(user: string, at: PublicAddress | undefined): void;
}

export interface RegistrationOptions {
  link: RegistrarLink;
  clock: Clock;
  /** Where REGISTERs are sent (the address may be a host name the transport resolves). */
  registrar: TransportAddress;
  /** The Request-URI: the registrar's domain, without user part (§10.2). */
  registrarUri: string;
  /** The address-of-record, in To and From. */
  aor: string;
  username: string;
  password: string;
  /** Only challenges for this realm are answered (the password is not offered to others). */
  realm?: string;
  /** The interval asked for, in seconds. */
  expiresSec: number;
  /** The user part of our Contact, so calls the registrar sends on this binding can be told apart. */
  contactUser: string;
  /** Keep-alives to the registrar while it sees us behind a NAT over UDP, seconds apart (0: none). */
  keepAliveSec?: number;
  /** Backoff after the first failure, doubling per failure up to `maxMs`. */
  backoff?: { baseMs: number; maxMs: number };
  /** In [0, 1); spreads retries of many registrations (default Math.random). */
  random?: () => number;
  userAgent?: string;
}

const DEFAULT_BACKOFF = { baseMs: 1000, maxMs: 300_000 };
/** Each retry waits 75–100 % of its backoff step, so steps still grow strictly. */
const JITTER = 0.25;
/** RFC 3261 §10.2.8 lets the registrar raise the interval; three raises in a row is a loop. */
const MAX_INTERVAL_RETRIES = 3;
/** delta-seconds is 32 bits (§25.1); a day is far beyond what a trunk asks for. */
const MAX_EXPIRES_SEC = 86_400;
/** Registrar addresses kept (a DNS name may resolve elsewhere at each refresh); the oldest go first. */
const MAX_REGISTRAR_ADDRESSES = 8;
const sameAddress = (a: PublicAddress | undefined, b: PublicAddress | undefined): boolean =>
  a?.address === b?.address && a?.port === b?.port;

/** How the next REGISTER answers the registrar's last challenge. */
interface Answer {
  header: 'Authorization' | 'Proxy-Authorization';
  challenge: DigestChallenge;
}

type Exchange =
  | { ok: true; response: SipResponse; source: TransportAddress }
  | { ok: false; cause: RegistrationFailure; detail: string; retryAfterSec?: number };

export class RegistrationClient extends TypedEmitter<RegistrationEvents> {
  readonly #options: RegistrationOptions;
  readonly #digest = new DigestClient();
  readonly #callId: string;
  readonly #fromTag = randomToken();
  #cseq = 0;
  #expiresSec: number;
  /** The last challenge, answered up front on the next REGISTER (§22.3) until it goes stale. */
  #challenge: Answer | undefined;
  /** Monotonic time until which the registrar may hold a binding of ours. */
  #boundUntil = Number.NEGATIVE_INFINITY;
  /** Each address the registrar granted a binding from (or was sent it at), until that binding lapses. */
  readonly #registrars = new Map<string, number>();
  #registrarList: readonly string[] = [];
  #status: RegistrationStatus = { state: 'unregistered', failures: 0 };
  /** Our address as the NAT in front of us maps it, learned from the registrar (UDP). */
  #publicAddress: PublicAddress | undefined;
  /** The Contact a move to the public address leaves behind: removed by the next REGISTER. */
  #staleContact: string | undefined;
  #keepAliveTimer: TimerHandle | undefined;
  readonly #flow: RegistrationFlow;
  /** When the standing binding's refresh is due (half its interval after it was granted). */
  #refreshAtMs = 0;
  #timer: TimerHandle | undefined;
  #inFlight: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #started = false;

  constructor(options: RegistrationOptions) {
    super();
    this.#options = options;
    this.#expiresSec = options.expiresSec;
    this.#flow = new RegistrationFlow(options.clock, options.random ?? Math.random);
    this.#callId = `${randomToken(12)}@${uriHost(options.registrar.address)}`;
  }

  get status(): RegistrationStatus {
    return this.#status;
  }

  /**
   * The registrar holds a binding of ours: one was granted and has not expired. A refresh in
   * flight, or one that failed, leaves it standing until then (RFC 3261 §10.3: a refused
   * REGISTER changes no binding).
   */
  get bound(): boolean {
    return this.#options.clock.now() < this.#boundUntil;
  }

  /**
   * Where the registrar answered bindings of ours that still stand, and the address REGISTERs
   * went to when it was configured as one (a DNS name is resolved by the transport).
   */
  get registrarAddresses(): readonly string[] {
    const now = this.#options.clock.now();
    let lapsed = false;
    for (const [address, until] of this.#registrars) {
      if (until > now) continue;
      this.#registrars.delete(address);
      lapsed = true;
    }
    if (lapsed) this.#registrarList = [...this.#registrars.keys()];
    return this.#registrarList;
  }

  /** Sends the first REGISTER now. */
  start(): void {
    if (this.#started || this.#stopping) return;
    this.#started = true;
    this.#attempt();
  }

  /**
   * Removes the binding (REGISTER with Expires: 0) if one may exist, after an attempt in
   * flight has settled, and stops refreshing. Idempotent; resolves when the registrar answered
   * or the transaction gave up.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#unregister();
    return this.#stopping;
  }

  /** Our address as the registrar saw it behind a NAT (UDP), when it was not our own. */
  get publicAddress(): PublicAddress | undefined {
    return this.#publicAddress;
  }

  /**
   * Over TCP or TLS, a connection we opened to `remote` closed. When it carried the standing
   * binding, the binding is refreshed over a new one in a few seconds (RegistrationFlow), unless
   * its refresh is due sooner anyway. True when that refresh was brought forward.
   */
  flowClosed(remote: TransportAddress): boolean {
    if (this.#stopping || this.#inFlight || this.#status.state !== 'registered') return false;
    const waitMs = this.#flow.lost(remote, this.#refreshAtMs - this.#options.clock.now());
    if (waitMs === undefined) return false;
    this.#timer?.cancel();
    this.#timer = this.#options.clock.setTimer(waitMs, () => this.#attempt());
    return true;
  }

  /** Stops every timer without signalling (shutdown after `stop`, or when the transport is gone). */
  close(): void {
    this.#stopping ??= Promise.resolve();
    this.#timer?.cancel();
    this.#keepAliveTimer?.cancel();
  }

  #attempt(): void {
    this.#timer = undefined;
    if (this.#stopping) return;
    this.#setStatus({ state: 'registering', failures: this.#status.failures });
    this.#inFlight = this.#exchange(this.#expiresSec).then((outcome) => this.#settle(outcome));
  }

  #settle(outcome: Exchange): void {
    this.#inFlight = undefined;
    if (this.#stopping) return;
    const granted = outcome.ok ? this.#granted(outcome.response) : undefined;
    if (outcome.ok && granted !== undefined && granted > 0) {
      const clock = this.#options.clock;
      this.#boundUntil = clock.now() + granted * 1000;
      this.#noteRegistrar(outcome.source.address);
      this.#flow.granted(outcome.source);
      const configured = this.#options.registrar.address;
      if (isIP(configured) !== 0) this.#noteRegistrar(configured);
      this.#setStatus({
        state: 'registered',
        failures: 0,
        expiresSec: granted,
        expiresAt: new Date(clock.wallNow() + granted * 1000).toISOString(),
      });
      this.safeEmit('attempt', 'registered');
      this.#staleContact = undefined;
      if (this.#learnPublicAddress(outcome)) {
        // The binding we have is at an address the registrar cannot reach: move it now.
        this.#timer = clock.setTimer(0, () => this.#attempt());
        return;
      }
      // Half the interval leaves room for a whole failed transaction (Timer F, 32 s) and a retry.
      this.#refreshAtMs = clock.now() + (granted * 1000) / 2;
      this.#timer = clock.setTimer((granted * 1000) / 2, () => this.#attempt());
      return;
    }
    const failure: Exchange & { ok: false } = outcome.ok
      ? { ok: false, cause: 'bad_response', detail: 'the registrar answered 2xx without keeping our binding' }
      : outcome;
    this.#fail(failure);
  }

  /**
   * Notes where the answer shows the registrar sees us (a NAT's address, or ours again); over
   * UDP keeps a NAT's mapping open with keep-alives to where the registrar answered from (over
   * TCP or TLS the connection's own keep-alive does, sip.tcp.keepaliveIntervalSec). True when
   * that changed, so the binding must move (the current Contact then goes as stale).
   */
  #learnPublicAddress(outcome: Exchange & { ok: true }): boolean {
    const mapped = natMapped(outcome.response);
    if (mapped && this.#options.registrar.transport === 'udp') this.#keepAlive(outcome.source);
    else this.#keepAliveTimer?.cancel();
    if (sameAddress(mapped, this.#publicAddress)) return false;
    this.#staleContact = this.#contact();
    this.#publicAddress = mapped;
    this.#options.link.contactMoved(this.#options.contactUser, mapped);
    if (mapped) this.safeEmit('publicAddress', mapped);
    return true;
  }

  #keepAlive(registrar: TransportAddress): void {
    const everyMs = (this.#options.keepAliveSec ?? 0) * 1000;
    this.#keepAliveTimer?.cancel();
    if (everyMs <= 0) return;
    const beat = (): void => {
      if (this.#stopping) return;
      this.#options.link.keepAlive(registrar);
      this.#keepAliveTimer = this.#options.clock.setTimer(everyMs, beat);
    };
    this.#keepAliveTimer = this.#options.clock.setTimer(everyMs, beat);
  }

  #contact(): string {
    const { link, registrar, contactUser } = this.#options;
    return link.contactHeader(registrar.transport, false, contactUser, this.#publicAddress);
  }

  #noteRegistrar(address: string): void {
    this.#registrars.delete(address);
    this.#registrars.set(address, this.#boundUntil);
    // Map order is the order they last answered: the least recent go first.
    for (const oldest of this.#registrars.keys()) {
      if (this.#registrars.size <= MAX_REGISTRAR_ADDRESSES) break;
      this.#registrars.delete(oldest);
    }
    this.#registrarList = [...this.#registrars.keys()];
  }

  #fail(failure: { cause: RegistrationFailure; detail: string; retryAfterSec?: number }): void {
    const failures = this.#status.failures + 1;
    const { baseMs, maxMs } = this.#options.backoff ?? DEFAULT_BACKOFF;
    const step = Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30));
    const jittered = step * (1 - JITTER * (this.#options.random ?? Math.random)());
    const delayMs = Math.min(maxMs, Math.max(jittered, (failure.retryAfterSec ?? 0) * 1000));
    const clock = this.#options.clock;
    this.#setStatus({
      state: 'failed',
      failures,
      cause: failure.cause,
      detail: failure.detail,
      retryAt: new Date(clock.wallNow() + delayMs).toISOString(),
    });
    this.safeEmit('attempt', failure.cause);
    this.#timer = clock.setTimer(delayMs, () => this.#attempt());
  }

  async #unregister(): Promise<void> {
    this.#timer?.cancel();
    this.#keepAliveTimer?.cancel();
    // A REGISTER in flight may bind us even if its answer is lost; a failed refresh leaves
    // the earlier binding in place until it lapses.
    const inFlight = this.#inFlight;
    await inFlight;
    if (inFlight || this.#options.clock.now() < this.#boundUntil) await this.#exchange(0);
    if (this.#publicAddress) this.#options.link.contactMoved(this.#options.contactUser, undefined);
    this.#boundUntil = Number.NEGATIVE_INFINITY;
    this.#flow.forget();
    this.#registrars.clear();
    this.#registrarList = [];
    if (this.#started) this.#setStatus({ state: 'unregistered', failures: 0 });
  }

  /** One REGISTER and the retries it takes (challenges, 423), to a final outcome; never rejects. */
  async #exchange(expiresSec: number): Promise<Exchange> {
    try {
      return await this.#exchangeUntilFinal(expiresSec);
    } catch (error) {
      // A challenge DigestClient cannot answer (no qop it knows) throws while the request is
      // built; forget it, so the retry asks afresh instead of failing the same way unsent.
      this.#challenge = undefined;
      const detail = boundedReasonPhrase((error as Error).message, 500);
      return { ok: false, cause: 'bad_response', detail };
    }
  }

  async #exchangeUntilFinal(expiresSec: number): Promise<Exchange> {
    let challenges = 0;
    let intervalRetries = 0;
    let expires = expiresSec;
    for (;;) {
      const request = this.#build(expires);
      const answer = await this.#options.link.exchange(request, this.#options.registrar);
      if (typeof answer === 'string') return { ok: false, cause: answer, detail: answer };
      if ('dnsFailure' in answer) return { ok: false, cause: 'dns_failure', detail: answer.dnsFailure };
      const outcome = answer.response;
      const { status } = outcome;
      if (status >= 200 && status < 300) return { ok: true, response: outcome, source: answer.source };
      const detail = `${status} ${boundedReasonPhrase(outcome.reason, status)}`;
      if (status === 401 || status === 407) {
        const challenge = this.#readChallenge(outcome);
        if (typeof challenge === 'string')
          return {
            ok: false,
            cause: 'auth_rejected',
            detail: `${detail}: ${boundedReasonPhrase(challenge, status)}`,
          };
        // A challenge after our answer to one, without stale=true: wrong credentials. (A first
        // one may follow credentials sent up front for the last challenge, §22.3.)
        if (!answersChallenge(challenges, challenge.challenge.stale))
          return { ok: false, cause: 'auth_rejected', detail };
        challenges++;
        this.#challenge = challenge;
        continue;
      }
      if (status === 423 && expires > 0) {
        const minimum = Number(outcome.get('min-expires')?.trim());
        if (
          !Number.isInteger(minimum) ||
          minimum <= expires ||
          minimum > MAX_EXPIRES_SEC ||
          intervalRetries >= MAX_INTERVAL_RETRIES
        )
          return {
            ok: false,
            cause: 'interval_too_brief',
            detail: `${detail} (Min-Expires ${Number.isInteger(minimum) ? minimum : 'missing or invalid'})`,
          };
        intervalRetries++;
        expires = minimum;
        this.#expiresSec = minimum;
        continue;
      }
      const retryAfter = retryAfterSec(outcome);
      return {
        ok: false,
        cause: status === 403 ? 'auth_rejected' : 'rejected',
        detail,
        ...(retryAfter === undefined ? {} : { retryAfterSec: retryAfter }),
      };
    }
  }

  #build(expiresSec: number): SipRequest {
    const options = this.#options;
    const request = new SipRequest('REGISTER', options.registrarUri);
    this.#cseq++;
    request.append('Max-Forwards', '70');
    request.append('From', `<${options.aor}>;tag=${this.#fromTag}`);
    request.append('To', `<${options.aor}>`);
    request.append('Call-ID', this.#callId);
    request.append('CSeq', `${this.#cseq} REGISTER`);
    request.append('Contact', this.#contact());
    // §10.2.2: the binding left at our address before the NAT's goes in the same request.
    if (this.#staleContact && expiresSec > 0) request.append('Contact', `${this.#staleContact};expires=0`);
    request.append('Expires', String(expiresSec));
    if (options.userAgent) request.append('User-Agent', options.userAgent);
    if (this.#challenge) {
      const value = this.#digest.authorize({
        challenge: this.#challenge.challenge,
        method: 'REGISTER',
        uri: options.registrarUri,
        username: options.username,
        password: options.password,
      });
      request.append(this.#challenge.header, value);
    }
    return request;
  }

  /** The challenge to answer, or why it cannot be answered. */
  #readChallenge(response: SipResponse): Answer | string {
    const proxy = response.status === 407;
    const values = response.getAll(proxy ? 'proxy-authenticate' : 'www-authenticate');
    let challenge: DigestChallenge;
    try {
      challenge = pickChallenge(values, this.#options.realm);
    } catch (error) {
      return (error as Error).message;
    }
    return { header: proxy ? 'Proxy-Authorization' : 'Authorization', challenge };
  }

  /** Seconds granted to our Contact: its `expires` parameter, else the Expires header (§10.2.4). */
  #granted(response: SipResponse): number | undefined {
    let contacts: NameAddr[];
    try {
      contacts = response.contacts();
    } catch {
      contacts = [];
    }
    // The Contact we registered (a stale one of ours, at another address, may be listed as it goes).
    const sent = parseNameAddr(this.#contact()).uri;
    const user = this.#options.contactUser;
    const ours =
      contacts.find(
        ({ uri }) => uri.user === user && uriHost(uri.host) === uriHost(sent.host) && uri.port === sent.port,
      ) ?? contacts.find(({ uri }) => uri.user === user);
    const text = ours?.params.get('expires') ?? response.get('expires') ?? String(this.#expiresSec);
    const seconds = Number(text.trim());
    return Number.isInteger(seconds) && seconds >= 0 ? Math.min(seconds, MAX_EXPIRES_SEC) : undefined;
  }

  #setStatus(status: RegistrationStatus): void {
    this.#status = status;
    this.safeEmit('state', status);
  }
}

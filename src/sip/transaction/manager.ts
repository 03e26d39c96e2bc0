import { type Clock, TimerQueues, TypedEmitter } from '../../util/index.js';
import type { SendOptions, ShedReason, TransportAddress, Via } from '../types.js';
import { DEFAULT_TIMER_PROFILE, type TimerProfile, type TransactionEnd } from './base.js';
import { type ClientTransactionUser, InviteClientTransaction } from './invite-client.js';
import { InviteServerTransaction } from './invite-server.js';
import {
  BRANCH_MAGIC_COOKIE,
  type MessageFactory,
  type RequestView,
  type ResponseView,
  sentByOf,
} from './message-view.js';
import { NonInviteClientTransaction } from './non-invite-client.js';
import { NonInviteServerTransaction } from './non-invite-server.js';

export type ClientTransaction<Req extends RequestView, Res extends ResponseView> =
  | InviteClientTransaction<Req, Res>
  | NonInviteClientTransaction<Req, Res>;
export type ServerTransaction<Req extends RequestView, Res extends ResponseView> =
  | InviteServerTransaction<Req, Res>
  | NonInviteServerTransaction<Req, Res>;

interface TransactionManagerOptions<Req extends RequestView, Res extends ResponseView> {
  clock: Clock;
  factory: MessageFactory<Req, Res>;
  /** Sends a message, or a server transaction's response as the bytes `factory.serialize` made. */
  send(
    message: Req | Res | Buffer,
    destination: TransportAddress,
    options?: SendOptions,
  ): Promise<void> | void;
  isReliable(transport: TransportAddress['transport']): boolean;
  /** A new request with its server transaction; the TU answers with `transaction.respond`. */
  onRequest(request: Req, transaction: ServerTransaction<Req, Res>, source: TransportAddress): void;
  /** An ACK that no transaction absorbs: the ACK for a 2xx (RFC 3261 §17.2.3, RFC 6026 §7.1). */
  onAck?(ack: Req, source: TransportAddress): void;
  /** The INVITE a CANCEL matched was answered 487 by the manager (RFC 3261 §9.2). */
  onCancel?(invite: ServerTransaction<Req, Res>, cancel: Req): void;
  /** A response matching no client transaction, e.g. a 2xx retransmission after Timer M. */
  onStrayResponse?(response: Res, source: TransportAddress): void;
  /** A server transaction gave up: Timer H fired or its response could not be sent. */
  onServerFailure?(transaction: ServerTransaction<Req, Res>, reason: 'timeout' | 'transport'): void;
  profile?: TimerProfile;
  /** Upper bound on live transactions (client + server); beyond it requests get 503. */
  maxTransactions?: number;
  /** Bytes server transactions may hold (see SERVER_TRANSACTION_BYTES), per source and in all. */
  memory?: Partial<TransactionMemoryLimits>;
}

export interface TransactionMemoryLimits {
  /** Beyond it a source's new requests get 503 (shed as `memory`). */
  maxBytesPerSource: number;
  /** Beyond it every new request gets 503 (shed as `memory`). */
  maxBytes: number;
}

const DEFAULT_MAX_TRANSACTIONS = 50_000;
/**
 * A trunk at the default 200 requests/s keeps ~6,400 server transactions alive through 64*T1
 * (Timer J, and Timer L of an accepted INVITE, RFC 6026) at ~1.5-2.5 KB each: about 16 MB,
 * so a source may hold twice that. In all, 50,000 transactions of ~2.5 KB.
 */
const DEFAULT_TRANSACTION_MEMORY: Readonly<TransactionMemoryLimits> = {
  maxBytesPerSource: 32 << 20,
  maxBytes: 128 << 20,
};

/**
 * Heap a live server transaction holds besides the request and the response bytes it keeps:
 * the transaction object with its listener map, its closures, timer entries, its keys in the
 * manager's maps. Measured with bench/sip-transaction-memory.ts (compiled) as heap +
 * ArrayBuffers per transaction, less its response bytes: ~1,600 B for a non-INVITE waiting for
 * Timer J, ~1,900 B for an INVITE waiting for Timer H (and G). With it the bound charges what is
 * really held.
 */
export const SERVER_TRANSACTION_BYTES = 1750;

interface TransactionManagerEvents {
  /** A request was answered 503 unserved: too many transactions, or too many bytes held. */
  shed: [reason: Extract<ShedReason, 'overload' | 'memory'>];
}

/**
 * Matches messages to transactions and owns their lifetimes (RFC 3261 §17.1.3, §17.2.3), and
 * bounds what server transactions hold: each is charged a fixed SERVER_TRANSACTION_BYTES, the
 * bytes of the request it keeps (until its final response) and those of the response it keeps
 * for retransmissions, per source address and in total. Their timers share one clock timer
 * per delay (TimerQueues): thousands of them wait out the same 64*T1.
 */
export class TransactionManager<
  Req extends RequestView,
  Res extends ResponseView,
> extends TypedEmitter<TransactionManagerEvents> {
  readonly #clients = new Map<string, ClientTransaction<Req, Res>>();
  readonly #servers = new Map<string, ServerTransaction<Req, Res>>();
  /** RFC 3261 §8.2.2.2: Call-ID + From tag + CSeq of tag-less requests being served. */
  readonly #mergeKeys = new Map<string, string>();
  readonly #options: TransactionManagerOptions<Req, Res>;
  readonly #timers: TimerQueues;
  readonly #profile: TimerProfile;
  readonly #maxTransactions: number;
  readonly #memory: TransactionMemoryLimits;
  readonly #bytesBySource = new Map<string, number>();
  #bytesHeld = 0;
  /** Shared by every server transaction, so none carries closures of its own for these. */
  readonly #serialize = (response: Res): Buffer => this.#options.factory.serialize(response);
  readonly #createTrying = (invite: Req): Res => this.#options.factory.createResponse(invite, 100, 'Trying');

  constructor(options: TransactionManagerOptions<Req, Res>) {
    super();
    this.#options = options;
    this.#timers = new TimerQueues(options.clock);
    this.#profile = options.profile ?? DEFAULT_TIMER_PROFILE;
    this.#maxTransactions = options.maxTransactions ?? DEFAULT_MAX_TRANSACTIONS;
    this.#memory = { ...DEFAULT_TRANSACTION_MEMORY, ...options.memory };
  }

  /** Bytes charged to the live server transactions (see SERVER_TRANSACTION_BYTES). */
  get bytesHeld(): number {
    return this.#bytesHeld;
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  get serverCount(): number {
    return this.#servers.size;
  }

  /** Live transactions plus merge-detection entries, for leak checks. */
  get size(): number {
    return this.#clients.size + this.#servers.size + this.#mergeKeys.size;
  }

  /**
   * Starts a client transaction for `request` (its top Via must carry a fresh branch) to
   * `destination`. With `fallback`, a transport error before any response sends the request
   * again to the fallback's destination instead (once), after its `prepare` (see
   * TransportFallback); a connection to `destination` not up within the fallback's
   * `connectWithinMs` is such an error. ACK is not a transaction (RFC 3261 §17.1.1.3): send
   * 2xx ACKs through the transport.
   */
  sendRequest(
    request: Req,
    destination: TransportAddress,
    user: ClientTransactionUser<Res>,
    fallback?: { destination: TransportAddress; prepare(): void; connectWithinMs?: number },
  ): ClientTransaction<Req, Res> {
    if (request.method === 'ACK') throw new TypeError('ACK is sent outside transactions');
    if (this.#clients.size + this.#servers.size >= this.#maxTransactions) {
      throw new RangeError('too many live transactions');
    }
    const key = clientKey(request.topVia()?.params.get('branch'), request.method);
    if (!key) throw new TypeError('request has no Via branch');
    if (this.#clients.has(key)) throw new RangeError(`branch already in use: ${key}`);
    const connectWithinMs = fallback?.connectWithinMs;
    const sendOptions = connectWithinMs === undefined ? undefined : { connectWithinMs };
    const common = {
      request,
      clock: this.#timers,
      profile: this.#profile,
      reliable: this.#options.isReliable(destination.transport),
      send: (message: Req) => this.#options.send(message, destination, sendOptions),
      user,
      fallback: fallback && {
        prepare: fallback.prepare,
        send: (message: Req) => this.#options.send(message, fallback.destination),
      },
    };
    const transaction: ClientTransaction<Req, Res> =
      request.method === 'INVITE'
        ? new InviteClientTransaction<Req, Res>({
            ...common,
            createAck: (response) => this.#options.factory.createAck(request, response),
          })
        : new NonInviteClientTransaction<Req, Res>(common);
    this.#clients.set(key, transaction);
    transaction.on('ended', () => this.#clients.delete(key));
    transaction.start();
    return transaction;
  }

  /** Routes a response to its client transaction (RFC 3261 §17.1.3). */
  receiveResponse(response: Res, source: TransportAddress): void {
    const key = clientKey(response.topVia()?.params.get('branch'), response.cseq().method);
    const transaction = key ? this.#clients.get(key) : undefined;
    if (transaction) transaction.receiveResponse(response, source);
    else this.#options.onStrayResponse?.(response, source);
  }

  /** Whether a request would match a live server transaction (§17.2.3; an ACK, its INVITE's). */
  matchesServerTransaction(method: string, topVia: Via): boolean {
    const branch = topVia.params.get('branch');
    if (!branch?.startsWith(BRANCH_MAGIC_COOKIE)) return false;
    return this.#servers.has(serverKey(branch, sentByOf(topVia), method === 'ACK' ? 'INVITE' : method));
  }

  /** Routes a request to its server transaction or creates one (RFC 3261 §17.2.3). */
  receiveRequest(request: Req, source: TransportAddress): void {
    const via = request.topVia();
    const branch = via?.params.get('branch');
    // RFC 2543 peers without the magic cookie are not matched (optional per §17.2.3).
    if (!via || !branch?.startsWith(BRANCH_MAGIC_COOKIE)) {
      this.#replyStateless(request, 400, 'Missing Via branch', source);
      return;
    }
    const sentBy = sentByOf(via);
    if (request.method === 'ACK') {
      this.#receiveAck(request, serverKey(branch, sentBy, 'INVITE'), source);
      return;
    }
    const key = serverKey(branch, sentBy, request.method);
    const existing = this.#servers.get(key);
    if (existing) {
      existing.receiveRetransmission();
      return;
    }
    const requestBytes = this.#options.factory.byteSize?.(request) ?? 0;
    const shed = this.#shedReason(SERVER_TRANSACTION_BYTES + requestBytes, source.address);
    if (shed) {
      this.safeEmit('shed', shed);
      this.#replyStateless(request, 503, 'Service Unavailable', source);
      return;
    }
    // Read every header the layer needs before creating state, so a malformed one throws here.
    const mergeKey = request.method === 'CANCEL' || request.toTag() ? undefined : mergeKeyOf(request);
    const merged = mergeKey !== undefined && this.#isMerged(mergeKey, key);
    const transaction = this.#createServer(request, source);
    this.#track(transaction, key, merged ? undefined : mergeKey, requestBytes, source.address);
    if (request.method === 'CANCEL') {
      this.#cancel(request, transaction, serverKey(branch, sentBy, 'INVITE'));
      return;
    }
    if (merged) {
      transaction.respond(this.#options.factory.createResponse(request, 482, 'Loop Detected'));
      return;
    }
    this.#options.onRequest(request, transaction, source);
  }

  /** Terminates every transaction (shutdown). */
  close(): void {
    for (const transaction of [...this.#clients.values(), ...this.#servers.values()]) {
      transaction.terminate('transaction manager closed');
    }
  }

  #receiveAck(ack: Req, inviteKey: string, source: TransportAddress): void {
    const invite = this.#servers.get(inviteKey);
    if (invite instanceof InviteServerTransaction && !invite.receiveAck()) return;
    this.#options.onAck?.(ack, source);
  }

  /** RFC 3261 §9.2: 200 to the CANCEL, 487 to the INVITE if it is still pending. */
  #cancel(cancel: Req, transaction: ServerTransaction<Req, Res>, inviteKey: string): void {
    const invite = this.#servers.get(inviteKey);
    const factory = this.#options.factory;
    if (!invite) {
      transaction.respond(factory.createResponse(cancel, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    transaction.respond(factory.createResponse(cancel, 200, 'OK'));
    if (invite.state !== 'proceeding') return;
    if (invite.request) invite.respond(factory.createResponse(invite.request, 487, 'Request Terminated'));
    this.#options.onCancel?.(invite, cancel);
  }

  /** RFC 3261 §8.2.2.2: same Call-ID/From tag/CSeq without To tag on another branch. */
  #isMerged(mergeKey: string, key: string): boolean {
    const owner = this.#mergeKeys.get(mergeKey);
    return owner !== undefined && owner !== key && this.#servers.has(owner);
  }

  #createServer(request: Req, source: TransportAddress): ServerTransaction<Req, Res> {
    const common = {
      request,
      clock: this.#timers,
      profile: this.#profile,
      reliable: this.#options.isReliable(source.transport),
      serialize: this.#serialize,
      send: (bytes: Buffer) => this.#options.send(bytes, source),
    };
    const transaction: ServerTransaction<Req, Res> =
      request.method === 'INVITE'
        ? new InviteServerTransaction<Req, Res>({ ...common, createTrying: this.#createTrying })
        : new NonInviteServerTransaction<Req, Res>(common);
    return transaction;
  }

  /**
   * Registers a server transaction under its key (and merge key) until it ends, charging it
   * SERVER_TRANSACTION_BYTES, the request while it holds it and the response bytes it keeps;
   * the charge is updated at every state change, and is nothing once it has ended. An end by
   * Timer H or a transport error is the TU's `onServerFailure`.
   */
  #track(
    transaction: ServerTransaction<Req, Res>,
    key: string,
    mergeKey: string | undefined,
    requestBytes: number,
    address: string,
  ): void {
    this.#servers.set(key, transaction);
    if (mergeKey !== undefined) this.#mergeKeys.set(mergeKey, key);
    let charged = 0;
    const charge = (bytes: number): void => {
      const delta = bytes - charged;
      charged = bytes;
      this.#bytesHeld += delta;
      const bySource = (this.#bytesBySource.get(address) ?? 0) + delta;
      if (bySource > 0) this.#bytesBySource.set(address, bySource);
      else this.#bytesBySource.delete(address);
    };
    charge(SERVER_TRANSACTION_BYTES + requestBytes);
    // One listener for both, its end read off the transaction: each costs ~150 B, and
    // thousands of server transactions wait out Timer J at once.
    transaction.on('state', (state) => {
      if (state !== 'terminated') {
        const request = transaction.request === undefined ? 0 : requestBytes;
        charge(SERVER_TRANSACTION_BYTES + request + (transaction.responseBytes?.length ?? 0));
        return;
      }
      charge(0);
      this.#servers.delete(key);
      if (mergeKey !== undefined && this.#mergeKeys.get(mergeKey) === key) this.#mergeKeys.delete(mergeKey);
      const failure = serverFailureOf(transaction.end);
      if (failure) this.#options.onServerFailure?.(transaction, failure);
    });
  }

  #shedReason(bytes: number, address: string): 'overload' | 'memory' | undefined {
    if (this.#clients.size + this.#servers.size >= this.#maxTransactions) return 'overload';
    const { maxBytes, maxBytesPerSource } = this.#memory;
    if (this.#bytesHeld + bytes > maxBytes) return 'memory';
    if ((this.#bytesBySource.get(address) ?? 0) + bytes > maxBytesPerSource) return 'memory';
    return undefined;
  }

  #replyStateless(request: Req, status: number, reason: string, source: TransportAddress): void {
    try {
      const pending = this.#options.send(
        this.#options.factory.createResponse(request, status, reason),
        source,
      );
      if (pending) pending.catch(() => undefined); // stateless: nothing to tell anyone
    } catch {
      // stateless reply to bad input: a send failure has no one to report to
    }
  }
}

/*
 * The keys a live server transaction is held under are built with join, which copies into one
 * flat string: a template literal makes a tree of string pieces, and the pieces (slices of the
 * request's header text) would keep that text alive as long as the transaction.
 */

function mergeKeyOf(request: RequestView): string {
  const cseq = request.cseq();
  return [request.callId(), request.fromTag() ?? '', cseq.seq, cseq.method].join('|');
}

/** The ends of a server transaction its TU is told of (RFC 3261 §17.2.1 Timer H, §17.2.4). */
function serverFailureOf(end: TransactionEnd | undefined): 'timeout' | 'transport' | undefined {
  if (end?.cause === 'timeout') return 'timeout';
  return end?.cause === 'transport_error' ? 'transport' : undefined;
}

function clientKey(branch: string | null | undefined, method: string): string | undefined {
  return branch ? `${branch}|${method}` : undefined;
}

function serverKey(branch: string, sentBy: string, method: string): string {
  return [branch, sentBy, method].join('|');
}

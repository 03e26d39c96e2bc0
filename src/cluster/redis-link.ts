/**
 * The one Redis connection a node shares between its cluster parts: Lua scripts run through it
 * with a deadline, only while the connection is ready, and it says once when Redis is lost and
 * once when it is back (`down` / `up`), so a node logs one line per outage and every part can
 * fall back to local state at once instead of queueing behind a dead socket.
 *
 * Every failed script is counted here by kind, and scripts that fail while Redis is connected
 * (an error reply such as WRONGTYPE, OOM or READONLY, or a missed deadline) are said once per
 * streak (`failing` / `recovered`): the connection is up, so `down` never tells of them.
 */
import { Redis, ReplyError } from 'ioredis';
import { TypedEmitter } from '../util/index.js';

/** Why a script failed: not sent (not connected), no answer in time, or an error reply. */
export type RedisErrorKind = 'disconnected' | 'timeout' | 'script_error';

interface RedisLinkEvents {
  /** Redis answers again after an outage (not for the first connection). */
  up: [];
  /** Redis was lost; `reason` is the client's error text, for one log line. */
  down: [reason: string];
  /** A script failed (timeout or script_error) while connected, the first of a streak. */
  failing: [kind: RedisErrorKind, reason: string];
  /** A script succeeded again at least STREAK_QUIET_MS after the streak's last failure. */
  recovered: [failures: number];
}

/**
 * A streak ends only after this long without a failure: one bad key among good ones would
 * otherwise log a failure and a recovery at every call.
 */
const STREAK_QUIET_MS = 10_000;

/** A script ioredis defined on the client (EVALSHA, EVAL again on NOSCRIPT after a restart). */
type ScriptCommand = (...args: Array<string | number>) => Promise<unknown>;

interface RedisLinkOptions {
  /** Upper bound on one script; a slower Redis counts as a failure. */
  commandTimeoutMs?: number;
  /** Monotonic ms for failure streaks (tests); default performance.now. */
  now?: () => number;
}

export class RedisLink extends TypedEmitter<RedisLinkEvents> {
  readonly client: Redis;
  readonly #commandTimeoutMs: number;
  readonly #scripts = new Map<string, ScriptCommand>();
  readonly #now: () => number;
  /** Failed scripts since start, by kind (patchbay_cluster_redis_errors_total). */
  readonly errors: Record<RedisErrorKind, number> = { disconnected: 0, timeout: 0, script_error: 0 };
  #streak: { failures: number; lastAtMs: number } | undefined;
  #down = false;
  #closed = false;

  constructor(client: Redis, options: RedisLinkOptions = {}) {
    super();
    this.client = client;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? 200;
    this.#now = options.now ?? (() => performance.now());
    client.on('error', (error: Error) => this.#lost(error.message));
    client.on('end', () => this.#lost('connection ended'));
    client.on('ready', () => {
      if (!this.#down) return;
      this.#down = false;
      this.safeEmit('up');
    });
  }

  /**
   * A client for `url` that never queues commands while disconnected (enableOfflineQueue off):
   * a call would otherwise wait for the deadline instead of taking the local path at once.
   */
  static connect(url: string, options: RedisLinkOptions = {}): RedisLink {
    return new RedisLink(new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false }), options);
  }

  /** Connected and ready for commands now. */
  get up(): boolean {
    return this.client.status === 'ready';
  }

  /** Registers a Lua script under `name`; `run(name, …)` sends it. */
  defineScript(name: string, lua: string): void {
    if (this.#scripts.has(name)) return;
    this.client.defineCommand(name, { lua });
    const command = Reflect.get(this.client, name) as ScriptCommand;
    this.#scripts.set(name, command.bind(this.client));
  }

  /** Runs a defined script; rejects when Redis is not ready, fails or misses the deadline. */
  async run(name: string, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    const script = this.#scripts.get(name);
    if (!script) throw new Error(`script ${name} not defined`);
    if (this.client.status === 'wait') void this.client.connect().catch(() => undefined); // lazyConnect
    if (this.client.status !== 'ready') {
      this.errors.disconnected++;
      throw new Error(`redis ${this.client.status}`);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RedisTimeout()), this.#commandTimeoutMs);
    });
    try {
      // A command that loses the race still settles later; race() has already handled it.
      const reply = await Promise.race([script(keys.length, ...keys, ...args), timeout]);
      this.#succeeded();
      return reply;
    } catch (error) {
      this.#failed(error as Error);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.client.disconnect();
    this.removeAllListeners();
  }

  #failed(error: Error): void {
    // Not a reply and no deadline: the connection went while the script was in flight.
    const kind: RedisErrorKind =
      error instanceof RedisTimeout
        ? 'timeout'
        : error instanceof ReplyError
          ? 'script_error'
          : 'disconnected';
    this.errors[kind]++;
    if (kind === 'disconnected') return; // `down` says so
    const now = this.#now();
    if (this.#streak) {
      this.#streak.failures++;
      this.#streak.lastAtMs = now;
      return;
    }
    this.#streak = { failures: 1, lastAtMs: now };
    this.safeEmit('failing', kind, error.message);
  }

  #succeeded(): void {
    const streak = this.#streak;
    if (!streak || this.#now() - streak.lastAtMs < STREAK_QUIET_MS) return;
    this.#streak = undefined;
    this.safeEmit('recovered', streak.failures);
  }

  #lost(reason: string): void {
    if (this.#down || this.#closed) return;
    this.#down = true;
    this.safeEmit('down', reason);
  }
}

class RedisTimeout extends Error {
  constructor() {
    super('redis command timeout');
  }
}

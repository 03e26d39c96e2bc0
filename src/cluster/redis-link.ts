/**
 * The one Redis connection a node shares between its cluster parts: Lua scripts run through it
 * with a deadline, only while the connection is ready, and it says once when Redis is lost and
 * once when it is back (`down` / `up`), so a node logs one line per outage and every part can
 * fall back to local state at once instead of queueing behind a dead socket.
 */
import { Redis } from 'ioredis';
import { TypedEmitter } from '../util/index.js';

interface RedisLinkEvents {
  /** Redis answers again after an outage (not for the first connection). */
  up: [];
  /** Redis was lost; `reason` is the client's error text, for one log line. */
  down: [reason: string];
}

/** A script ioredis defined on the client (EVALSHA, EVAL again on NOSCRIPT after a restart). */
type ScriptCommand = (...args: Array<string | number>) => Promise<unknown>;

interface RedisLinkOptions {
  /** Upper bound on one script; a slower Redis counts as a failure. */
  commandTimeoutMs?: number;
}

export class RedisLink extends TypedEmitter<RedisLinkEvents> {
  readonly client: Redis;
  readonly #commandTimeoutMs: number;
  readonly #scripts = new Map<string, ScriptCommand>();
  #down = false;
  #closed = false;

  constructor(client: Redis, options: RedisLinkOptions = {}) {
    super();
    this.client = client;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? 200;
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
    if (this.client.status !== 'ready') throw new Error(`redis ${this.client.status}`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('redis command timeout')), this.#commandTimeoutMs);
    });
    try {
      // A command that loses the race still settles later; race() has already handled it.
      return await Promise.race([script(keys.length, ...keys, ...args), timeout]);
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

  #lost(reason: string): void {
    if (this.#down || this.#closed) return;
    this.#down = true;
    this.safeEmit('down', reason);
  }
}

/**
 * Holds the current immutable config snapshot and replaces it only with a fully valid one.
 * Calls keep the snapshot they started with (they hold a reference; snapshots are frozen).
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { type Clock, type TimerHandle, TypedEmitter } from '../util/index.js';
import { defaultConfig } from './default.js';
import { ConfigError } from './errors.js';
import { type Env, loadConfig, type ParseResult, type PatchbayConfig } from './loader.js';

export interface ConfigManagerOptions {
  gatewayFile: string;
  env: Env;
  clock: Clock;
  /** Quiet time after the last file event before reloading (editors write in bursts). */
  debounceMs?: number;
  /** Replaceable for tests; defaults to loadConfig. */
  load?: (gatewayFile: string, env: Env) => Promise<ParseResult<PatchbayConfig>>;
}

export type ReloadResult =
  | { ok: true; changed: boolean; config: PatchbayConfig }
  | { ok: false; error: ConfigError };

interface ConfigManagerEvents {
  changed: [next: PatchbayConfig, previous: PatchbayConfig];
  invalid: [error: ConfigError];
}

export class ConfigManager extends TypedEmitter<ConfigManagerEvents> {
  #snapshot: PatchbayConfig;
  readonly #options: Required<ConfigManagerOptions>;
  #reloading: Promise<ReloadResult> | undefined;
  #reloadAgain = false;
  #watchers: FSWatcher[] = [];
  #debounce: TimerHandle | undefined;
  #closed = false;
  #signalSource: NodeJS.EventEmitter | undefined;
  readonly #onSignal = () => void this.reload();

  private constructor(snapshot: PatchbayConfig, options: Required<ConfigManagerOptions>) {
    super();
    this.#snapshot = snapshot;
    this.#options = options;
  }

  /** Loads the config; throws ConfigError listing every problem when it is invalid. */
  static async open(options: ConfigManagerOptions): Promise<ConfigManager> {
    const full = { debounceMs: 250, load: loadConfig, ...options };
    const result = await full.load(full.gatewayFile, full.env);
    if (!result.ok) throw new ConfigError(result.issues);
    return new ConfigManager(result.value, full);
  }

  /** The embedded demo config (`patchbay start` without --config): nothing to watch, reload keeps it. */
  static embedded(clock: Clock): ConfigManager {
    const snapshot = defaultConfig();
    const load = async (): Promise<ParseResult<PatchbayConfig>> => ({ ok: true, value: snapshot });
    return new ConfigManager(snapshot, { gatewayFile: '', env: {}, clock, debounceMs: 250, load });
  }

  get current(): PatchbayConfig {
    return this.#snapshot;
  }

  /**
   * Validates everything first; on error keeps the old snapshot and emits `invalid`.
   * Overlapping calls are coalesced: one more load runs after the one in flight.
   */
  reload(): Promise<ReloadResult> {
    if (this.#reloading) {
      this.#reloadAgain = true;
      return this.#reloading;
    }
    this.#reloading = this.#runReloads().finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  async #runReloads(): Promise<ReloadResult> {
    let result: ReloadResult;
    do {
      this.#reloadAgain = false;
      result = await this.#reloadOnce();
    } while (this.#reloadAgain && !this.#closed);
    return result;
  }

  async #reloadOnce(): Promise<ReloadResult> {
    const loaded = await this.#options.load(this.#options.gatewayFile, this.#options.env);
    if (!loaded.ok) {
      const error = new ConfigError(loaded.issues);
      this.safeEmit('invalid', error);
      return { ok: false, error };
    }
    const previous = this.#snapshot;
    const changed = JSON.stringify(serialisable(loaded.value)) !== JSON.stringify(serialisable(previous));
    if (changed && !this.#closed) {
      this.#snapshot = loaded.value;
      this.#rewatch();
      this.safeEmit('changed', loaded.value, previous);
    }
    return { ok: true, changed, config: this.#snapshot };
  }

  /** Reloads on SIGHUP (the conventional "re-read your config" signal). */
  handleSignals(target: NodeJS.EventEmitter = process): void {
    this.#signalSource?.off('SIGHUP', this.#onSignal);
    this.#signalSource = target;
    target.on('SIGHUP', this.#onSignal);
  }

  /** Watches the gateway file and every profile directory; reloads after debounceMs of quiet. */
  watchFiles(): void {
    this.#rewatch(true);
  }

  /** Called by the watcher (and by tests): schedules a debounced reload on the injected clock. */
  fileChanged(): void {
    if (this.#closed) return;
    this.#debounce?.cancel();
    this.#debounce = this.#options.clock.setTimer(this.#options.debounceMs, () => {
      this.#debounce = undefined;
      void this.reload();
    });
  }

  #rewatch(start = false): void {
    if (!start && this.#watchers.length === 0) return;
    for (const watcher of this.#watchers) watcher.close();
    const paths = new Set([this.#options.gatewayFile, ...this.#snapshot.watchPaths].filter((p) => p !== ''));
    this.#watchers = [];
    for (const path of paths) {
      try {
        const watcher = watch(path, () => this.fileChanged());
        watcher.on('error', () => this.fileChanged());
        this.#watchers.push(watcher);
      } catch {
        // A missing directory is reported by the next reload; nothing to watch yet.
      }
    }
  }

  close(): void {
    this.#closed = true;
    this.#debounce?.cancel();
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers = [];
    this.#signalSource?.off('SIGHUP', this.#onSignal);
    this.#signalSource = undefined;
  }
}

/** What a reload compares; TLS files by digest, so a renewed certificate is a change. */
function serialisable(config: PatchbayConfig): unknown {
  const tls = [...config.tlsFiles].map(([path, pem]) => [
    path,
    createHash('sha256').update(pem).digest('hex'),
  ]);
  return { gateway: config.gateway, trunks: [...config.trunks.entries()], tls };
}

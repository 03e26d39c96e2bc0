/**
 * The project's one event idiom: a typed emitter over an event map of argument tuples, whose
 * `safeEmit` calls every listener even when one throws, so a subscriber (metrics, records, a
 * status callback) can never break the object that emits or the listeners after it.
 */
import { EventEmitter } from 'node:events';

/** Event name → argument tuple. */
export type EventMap<T> = { [K in keyof T]: unknown[] };

export type ListenerErrorSink = (event: string, error: unknown) => void;

const warnListenerError: ListenerErrorSink = (event, error) =>
  process.emitWarning(`listener of '${event}' threw: ${(error as Error)?.message ?? String(error)}`);

export class TypedEmitter<Events extends EventMap<Events>> {
  readonly #inner = new EventEmitter();
  readonly #onListenerError: ListenerErrorSink;

  constructor(onListenerError: ListenerErrorSink = warnListenerError) {
    this.#onListenerError = onListenerError;
  }

  on<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.#inner.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.#inner.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.#inner.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  listenerCount<K extends keyof Events & string>(event: K): number {
    return this.#inner.listenerCount(event);
  }

  removeAllListeners(): void {
    this.#inner.removeAllListeners();
  }

  /** Calls each listener in order; one that throws is reported and the rest still run. */
  protected safeEmit<K extends keyof Events & string>(event: K, ...args: Events[K]): void {
    // rawListeners keeps `once` wrappers, which remove themselves when called.
    for (const listener of this.#inner.rawListeners(event) as Array<(...a: unknown[]) => void>) {
      try {
        listener.apply(this, args);
      } catch (error) {
        this.#onListenerError(event, error);
      }
    }
  }
}

/**
 * An in-memory UDP "network" for SIP unit tests: no sockets. Every message goes through
 * serializeMessage/parseMessage so the real wire format is exercised, is logged with the
 * virtual time it was sent at, and reaches the peer on a microtask (or after `latencyMs`
 * on the test's clock). A drop filter lets a test lose chosen messages.
 */

import type { SipMessage } from '../../../src/sip/message.js';
import { parseMessage, serializeMessage } from '../../../src/sip/parser.js';
import type { TransportAddress } from '../../../src/sip/types.js';
import type { UserAgentTransport } from '../../../src/sip/user-agent.js';
import type { Clock } from '../../../src/util/index.js';

export interface WireRecord {
  at: number;
  from: TransportAddress;
  to: TransportAddress;
  /** The message as the receiver parsed it. */
  message: SipMessage;
  dropped: boolean;
}

type Handler = (message: SipMessage, source: TransportAddress, local: TransportAddress) => void;

export type DropFilter = (message: SipMessage, from: TransportAddress, to: TransportAddress) => boolean;

function key(address: TransportAddress): string {
  return `${address.transport}:${address.address}:${address.port}`;
}

export class MemoryNetwork {
  readonly log: WireRecord[] = [];
  /** Messages that failed to serialize/parse, or whose receiver threw. */
  readonly errors: unknown[] = [];
  /** Return true to lose the message (it is still logged, with `dropped`). */
  drop: DropFilter | undefined;
  /**
   * Replaces a message's bytes on the wire (undefined: leaves them), before parsing: what then
   * fails to parse is dropped as a transport drops it, and kept in `malformed`, not `errors`.
   */
  garble: ((bytes: Buffer, from: TransportAddress, to: TransportAddress) => Buffer | undefined) | undefined;
  /** Garbled messages that failed to parse, as their bytes. */
  readonly malformed: Buffer[] = [];
  /** Edits a message on the wire (after parsing, before logging and delivery). */
  rewrite: ((message: SipMessage, from: TransportAddress, to: TransportAddress) => void) | undefined;
  readonly #nodes = new Map<string, MemoryTransport>();

  constructor(
    readonly clock: Clock,
    readonly latencyMs = 0,
  ) {}

  /** A transport bound to `local` on this network. */
  bind(local: TransportAddress): MemoryTransport {
    const transport = new MemoryTransport(this, local);
    this.#nodes.set(key(local), transport);
    return transport;
  }

  /** Short "METHOD"/"status METHOD" descriptions of the log, e.g. for deepEqual. */
  describe(filter: (record: WireRecord) => boolean = () => true): string[] {
    return this.log.filter(filter).map(({ message, dropped }) => {
      const text = message.isRequest ? message.method : `${message.status} ${message.cseq().method}`;
      return dropped ? `${text} (dropped)` : text;
    });
  }

  transmit(message: SipMessage | Buffer, from: TransportAddress, to: TransportAddress): void {
    let copy: SipMessage;
    let garbled: Buffer | undefined;
    try {
      const bytes = Buffer.isBuffer(message) ? message : serializeMessage(message);
      garbled = this.garble?.(bytes, from, to);
      copy = parseMessage(garbled ?? bytes, { datagram: true });
    } catch (error) {
      if (garbled) this.malformed.push(garbled);
      else this.errors.push(error);
      return;
    }
    this.rewrite?.(copy, from, to);
    const dropped = this.drop?.(copy, from, to) ?? false;
    this.log.push({ at: this.clock.now(), from, to, message: copy, dropped });
    const target = this.#nodes.get(key(to));
    if (dropped || !target) return;
    const deliver = (): void => {
      try {
        target.deliver(copy, from);
      } catch (error) {
        this.errors.push(error);
      }
    };
    if (this.latencyMs > 0) this.clock.setTimer(this.latencyMs, deliver);
    else queueMicrotask(deliver);
  }
}

export class MemoryTransport implements UserAgentTransport {
  #handler: Handler | undefined;

  constructor(
    readonly network: MemoryNetwork,
    readonly address: TransportAddress,
  ) {}

  send(message: SipMessage | Buffer, destination: TransportAddress): Promise<void> {
    this.network.transmit(message, this.address, destination);
    return Promise.resolve();
  }

  onMessage(handler: Handler): void {
    this.#handler = handler;
  }

  isReliable(transport: TransportAddress['transport']): boolean {
    return transport !== 'udp';
  }

  local(transport: TransportAddress['transport']): TransportAddress | undefined {
    return transport === this.address.transport ? this.address : undefined;
  }

  deliver(message: SipMessage, source: TransportAddress): void {
    this.#handler?.(message, source, this.address);
  }
}

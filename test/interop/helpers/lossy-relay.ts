/**
 * A loopback UDP relay that drops a seeded fraction of datagrams in each direction, one by one
 * or in bursts (loss-model.ts), and may delay each by a seeded random time (jitter that also
 * reorders, as netem's delay jitter does): to prove that calls complete through SIP retransmissions (RFC 3261 §17.1.1.2, §17.2.1), and
 * that a call's audio survives an impaired carrier network.
 *
 *   client --> [relay.port] --(may drop)--> target
 *   client <-- [relay.port] <--(may drop)-- target   (replies arrive on the upstream socket)
 *
 * The client is the last address that sent to `relay.port`. Replies from the target
 * reach the relay only if the target answers the datagram's source address: true for
 * SIPp, and for a stack honouring `received` (RFC 3261 §18.2.2) when `upstreamBind`
 * uses another loopback address than the client's Via (e.g. 127.0.0.2 with the client's
 * port), so the response goes to `received`:Via-port, i.e. back through the relay.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { seededRandom } from '../../../src/util/index.js';
import { assertLossOptions, type DropDecision, type LossOptions, lossModel } from './loss-model.js';

/** Runs of consecutive drops counted by length up to this; longer runs count here too. */
const MAX_RUN_COUNTED = 64;

/** `lossRate`: fraction of datagrams dropped per direction; `meanBurstPackets`: drops in bursts. */
export interface LossyRelayOptions extends LossOptions {
  target: { address: string; port: number };
  /** Seed of the drop and delay decisions, so a run is reproducible. */
  seed: number;
  /** Each datagram forwarded after a uniform random delay in [0, jitterMs); default 0. */
  jitterMs?: number;
  /** Where the client-facing socket binds; default 127.0.0.1, any port. */
  listen?: { address: string; port: number };
  /** Where the target-facing socket binds; default 127.0.0.1, any port. */
  upstreamBind?: { address: string; port: number };
}

export interface RelayDirectionStats {
  forwarded: number;
  dropped: number;
  /**
   * dropRuns[n]: runs of exactly n consecutive drops, in the order datagrams reached the relay
   * (a run still open when the relay closes is not counted).
   */
  dropRuns: number[];
}

export class LossyUdpRelay {
  readonly toTarget = newDirectionStats();
  readonly toClient = newDirectionStats();
  #client: RemoteInfo | undefined;
  #target: { address: string; port: number };
  #closed = false;

  private constructor(
    private readonly clientSide: Socket,
    private readonly targetSide: Socket,
    options: LossyRelayOptions,
  ) {
    this.#target = options.target;
    const random = seededRandom(options.seed);
    // Each direction its own channel: a burst one way says nothing about the other.
    const towardsTarget = countedDrops(this.toTarget, lossModel(options, random));
    const towardsClient = countedDrops(this.toClient, lossModel(options, random));
    const jitterMs = options.jitterMs ?? 0;
    const forward = (socket: Socket, data: Buffer, to: { address: string; port: number }): void => {
      if (jitterMs <= 0) this.#send(socket, data, to);
      else setTimeout(() => this.#send(socket, data, to), random() * jitterMs);
    };
    clientSide.on('message', (data, from) => {
      this.#client = from;
      if (!towardsTarget()) forward(targetSide, data, this.#target);
    });
    targetSide.on('message', (data) => {
      const client = this.#client;
      if (client && !towardsClient()) forward(clientSide, data, client);
    });
  }

  static async start(options: LossyRelayOptions): Promise<LossyUdpRelay> {
    assertLossOptions(options);
    const clientSide = await bind(options.listen ?? { address: '127.0.0.1', port: 0 });
    const targetSide = await bind(options.upstreamBind ?? { address: '127.0.0.1', port: 0 }).catch(
      (error) => {
        clientSide.close();
        throw error;
      },
    );
    return new LossyUdpRelay(clientSide, targetSide, options);
  }

  /** The client-facing port to send to. */
  get port(): number {
    return this.clientSide.address().port;
  }

  /** The port the target sees datagrams come from (and answers to). */
  get upstreamPort(): number {
    return this.targetSide.address().port;
  }

  get target(): { address: string; port: number } {
    return this.#target;
  }

  /** Forwards to another target from now on (e.g. the port a far end answered with). */
  retarget(target: { address: string; port: number }): void {
    this.#target = target;
  }

  close(): void {
    this.#closed = true;
    this.clientSide.close();
    this.targetSide.close();
  }

  #send(socket: Socket, data: Buffer, to: { address: string; port: number }): void {
    if (!this.#closed) socket.send(data, to.port, to.address);
  }
}

function newDirectionStats(): RelayDirectionStats {
  return { forwarded: 0, dropped: 0, dropRuns: new Array<number>(MAX_RUN_COUNTED + 1).fill(0) };
}

/** `drop`, counting what it forwards and drops, and the drops' runs, into `stats`. */
function countedDrops(stats: RelayDirectionStats, drop: DropDecision): DropDecision {
  let run = 0;
  return () => {
    const dropped = drop();
    if (dropped) {
      stats.dropped++;
      run++;
    } else {
      stats.forwarded++;
      const length = Math.min(run, MAX_RUN_COUNTED);
      if (run > 0) stats.dropRuns[length] = (stats.dropRuns[length] ?? 0) + 1;
      run = 0;
    }
    return dropped;
  };
}

function bind(at: { address: string; port: number }): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(at.port, at.address, () => {
      socket.off('error', reject);
      // A send to a closed port raises ICMP errors on the socket; a relay ignores them.
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}

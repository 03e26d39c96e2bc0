/**
 * A loopback UDP relay that drops a seeded fraction of datagrams in each direction,
 * to prove that calls complete through SIP retransmissions (RFC 3261 §17.1.1.2, §17.2.1).
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

export interface LossyRelayOptions {
  target: { address: string; port: number };
  /** Fraction of datagrams dropped per direction, 0..1. */
  lossRate: number;
  /** Seed of the drop decisions, so a run is reproducible. */
  seed: number;
  /** Where the client-facing socket binds; default 127.0.0.1, any port. */
  listen?: { address: string; port: number };
  /** Where the target-facing socket binds; default 127.0.0.1, any port. */
  upstreamBind?: { address: string; port: number };
}

export interface RelayDirectionStats {
  forwarded: number;
  dropped: number;
}

export class LossyUdpRelay {
  readonly toTarget: RelayDirectionStats = { forwarded: 0, dropped: 0 };
  readonly toClient: RelayDirectionStats = { forwarded: 0, dropped: 0 };
  #client: RemoteInfo | undefined;

  private constructor(
    private readonly clientSide: Socket,
    private readonly targetSide: Socket,
    private readonly options: LossyRelayOptions,
  ) {
    const random = seededRandom(options.seed);
    const drop = () => random() < options.lossRate;
    clientSide.on('message', (data, from) => {
      this.#client = from;
      if (drop()) this.toTarget.dropped++;
      else {
        this.toTarget.forwarded++;
        targetSide.send(data, options.target.port, options.target.address);
      }
    });
    targetSide.on('message', (data) => {
      const client = this.#client;
      if (!client) return;
      if (drop()) this.toClient.dropped++;
      else {
        this.toClient.forwarded++;
        clientSide.send(data, client.port, client.address);
      }
    });
  }

  static async start(options: LossyRelayOptions): Promise<LossyUdpRelay> {
    if (!(options.lossRate >= 0 && options.lossRate <= 1)) throw new RangeError('lossRate must be in 0..1');
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

  get target(): { address: string; port: number } {
    return this.options.target;
  }

  close(): void {
    this.clientSide.close();
    this.targetSide.close();
  }
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

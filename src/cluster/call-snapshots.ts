/**
 * This node's side of call takeover in Redis: it writes its answered calls' snapshots (opaque
 * JSON, by SIP Call-ID) and their RTP positions, renews its takeover heartbeat, and claims the
 * calls of dead nodes, each call by exactly one node (takeover-scripts.ts). What a snapshot
 * holds, and how a call is resumed from it, is the gateway's business.
 */
import type { RedisLink } from './redis-link.js';
import {
  CLAIM_CALL,
  REMOVE_SNAPSHOT,
  TAKEOVER_BEAT,
  takeoverKeys,
  WRITE_SNAPSHOTS,
} from './takeover-scripts.js';

/** One call's entry in a write: `snapshot` undefined when unchanged since the last write. */
interface SnapshotWrite {
  sipCallId: string;
  snapshot: string | undefined;
  position: string;
}

/** A call claimed from a dead node. */
export interface ClaimedCall {
  sipCallId: string;
  snapshot: string;
  position: string;
}

type ClaimResult =
  | { kind: 'claimed'; call: ClaimedCall }
  | { kind: 'mine' }
  | { kind: 'alive'; node: string }
  | { kind: 'unknown' };

interface CallSnapshotsOptions {
  link: RedisLink;
  nodeId: string;
  deadAfterMs: number;
}

export class CallSnapshots {
  readonly nodeId: string;
  readonly #options: CallSnapshotsOptions;

  constructor(options: CallSnapshotsOptions) {
    this.#options = options;
    this.nodeId = options.nodeId;
    const { link } = options;
    link.defineScript('patchbayWriteSnapshots', WRITE_SNAPSHOTS);
    link.defineScript('patchbayRemoveSnapshot', REMOVE_SNAPSHOT);
    link.defineScript('patchbayTakeoverBeat', TAKEOVER_BEAT);
    link.defineScript('patchbayClaimCall', CLAIM_CALL);
  }

  /** One round trip for every call; rejects while Redis is unreachable. */
  async write(writes: readonly SnapshotWrite[]): Promise<{ lost: string[]; missing: string[] }> {
    const { link, nodeId } = this.#options;
    const args: Array<string | number> = [nodeId, writes.length];
    for (const write of writes) args.push(write.sipCallId, write.snapshot ?? '', write.position);
    const [lost, missing] = (await link.run('patchbayWriteSnapshots', this.#ownKeys(), args)) as [
      string[],
      string[],
    ];
    return { lost, missing };
  }

  /** The call ended here: its snapshot goes (unless another node owns it now). */
  async remove(sipCallId: string): Promise<void> {
    await this.#options.link.run('patchbayRemoveSnapshot', this.#ownKeys(), [
      this.#options.nodeId,
      sipCallId,
    ]);
  }

  /**
   * Renews this node's heartbeat and claims at most `maxClaims` calls of dead nodes; with
   * `takesNone` (draining, or full) the others share the dead nodes' calls without it.
   */
  async beat(maxClaims: number, takesNone: boolean): Promise<ClaimedCall[]> {
    const { link, nodeId, deadAfterMs } = this.#options;
    const reply = (await link.run(
      'patchbayTakeoverBeat',
      [takeoverKeys.alive, takeoverKeys.draining, takeoverKeys.owner],
      [nodeId, deadAfterMs, maxClaims, takesNone ? 1 : 0],
    )) as string[];
    const claimed: ClaimedCall[] = [];
    for (let i = 0; i + 2 < reply.length; i += 3)
      claimed.push({
        sipCallId: reply[i] as string,
        snapshot: reply[i + 1] as string,
        position: reply[i + 2] as string,
      });
    return claimed;
  }

  /** Claims one call now if its owner is dead (an in-dialog request for it reached this node). */
  async claim(sipCallId: string): Promise<ClaimResult> {
    const reply = (await this.#options.link.run(
      'patchbayClaimCall',
      [takeoverKeys.alive, takeoverKeys.owner],
      [this.#options.nodeId, sipCallId],
    )) as string[];
    const [kind, first, second] = reply;
    if (kind === 'claimed' && first !== undefined)
      return { kind, call: { sipCallId, snapshot: first, position: second ?? '' } };
    if (kind === 'alive' && first !== undefined) return { kind, node: first };
    if (kind === 'mine') return { kind };
    return { kind: 'unknown' };
  }

  #ownKeys(): string[] {
    const node = this.#options.nodeId;
    return [takeoverKeys.owner, takeoverKeys.snapshots(node), takeoverKeys.positions(node)];
  }
}

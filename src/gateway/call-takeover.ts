/**
 * Call takeover on this node (`cluster.takeover`): the answered calls' snapshots written to
 * Redis when they change (their RTP positions every `snapshotIntervalMs`, one round trip for
 * all, never on the media path), the takeover heartbeat every fifth of `deadAfterMs` with the
 * claims of dead nodes' calls, and each claimed call resumed here (call-resume.ts).
 *
 * In-dialog requests the balancer sends here for a call this node does not hold (its node died;
 * deploy/kamailio fails them over) are held, not refused: the call is claimed at once if its
 * node is already counted dead, or as soon as it is, and the request then goes to the resumed
 * call. One whose call no live node can have (unknown, or still owned by a live node after
 * `deadAfterMs` more) gets 481, which lets the balancer try the next node.
 *
 * A node counted dead that was only stalled, or cut off from Redis while the others were not,
 * learns at its next write that its calls are owned elsewhere: it lets them go without
 * signalling (the new owner holds the dialog). Each call is carried at a generation (1 where it
 * was answered, one more at each claim) and a write yields to an owner of the same or a higher
 * one, so this holds also after Redis restarted empty: then every node writes its calls again
 * and the claimant's higher generation wins, whichever writes first. One that Redis did not hear
 * from for longer than `deadAfterMs` and that finds no owner for a call in a Redis that kept its
 * data does not take it back: another node may have taken it over and ended it, and the tombstone
 * expired. Such a call goes on here without a snapshot, and is let go once another node owns it.
 *
 * A node that is draining, full or overloaded claims nothing: its admission would refuse the
 * call, which would then be lost; a held request gets 481 so the balancer tries the next node.
 *
 * A claim whose reply is lost (a Redis slower than the deadline) may still have run: the call is
 * this node's in Redis, yet not resumed. Claims are safe to repeat: a held request's claim then
 * answers `mine` with the snapshot, and each heartbeat reports the calls this node claimed that
 * no write has carried since; one it does not know is resumed, or given back when it has no room.
 * A snapshot write whose reply is lost may have run too: its call is removed when it ends.
 */
import { type CallSnapshots, type ClaimedCall, FIRST_GENERATION } from '../cluster/index.js';
import type { TakeoverConfig } from '../config/index.js';
import type { HeldRequest } from '../sip/index.js';
import type { Clock, Logger, TimerHandle } from '../util/index.js';
import type { CallController } from './call-controller.js';
import { type ResumeContext, resumedCall } from './call-resume.js';
import { parseSnapshot, positionOf, snapshotOf } from './call-snapshot.js';
import type { ResumedCall } from './ports.js';
import { SnapshotSeal } from './snapshot-seal.js';

/**
 * Takeover heartbeats per `deadAfterMs`: a dead node is counted dead at most 1/5 of it early or
 * late, and its calls are claimed at most 1/5 of it after that.
 */
const BEATS_PER_DEAD_AFTER = 5;
/** In-dialog requests held at once for calls not here yet; beyond, they get 481 at once. */
const MAX_HELD_REQUESTS = 1000;
/** How often a held request looks again for its call. */
const HOLD_POLL_MS = 100;
/** A held request waits this long past `deadAfterMs` for its call's node to be counted dead. */
const HOLD_MARGIN_MS = 2000;
/** What Redis holds of a call whose write got no reply: unknown, so never a snapshot's text. */
const SENT = '';

/** A call this node wrote (or claimed): the snapshot text Redis holds, and its generation here. */
interface Written {
  text: string;
  generation: number;
}

export interface CallTakeoverOptions {
  snapshots: CallSnapshots;
  config: TakeoverConfig;
  nodeId: string;
  clock: Clock;
  logger: Logger;
  resumeContext(): ResumeContext;
  liveCalls(): readonly CallController[];
  /** Calls this node can still take (limits.maxCalls less those in progress). */
  room(): number;
  draining(): boolean;
  /** Admission refuses new calls for load (`limits.overload`). */
  overloaded(): boolean;
  /** Runs a resumed call as the gateway runs its own (registry, records, metrics). */
  adopt(call: ResumedCall): CallController;
  /** A claimed call whose snapshot cannot be resumed (counted; the call is lost). */
  unusable(): void;
}

export class CallTakeover {
  readonly #options: CallTakeoverOptions;
  /** SRTP calls' keys sealed and opened under `snapshotSecret`; without one they are not snapshotted. */
  readonly #seal: SnapshotSeal | undefined;
  /** What was last written per SIP Call-ID (what Redis holds; SENT: may hold). */
  readonly #written = new Map<string, Written>();
  /** Calls being resumed, by SIP Call-ID. */
  readonly #resuming = new Set<string>();
  /** Held requests by SIP Call-ID: each delivers its request when the dialog is here (true). */
  readonly #waiting = new Map<string, Set<() => boolean>>();
  #held = 0;
  #writeTimer: TimerHandle | undefined;
  #beatTimer: TimerHandle | undefined;
  /** A write is in flight; `#writeAgain`: another was asked for meanwhile. */
  #writing = false;
  #writeAgain = false;
  #closed = false;
  /**
   * When the last takeover heartbeat Redis answered was sent (monotonic ms): Redis counts this
   * node alive until `deadAfterMs` after it ran it, whatever the node did since.
   */
  #lastBeatAt = 0;
  /**
   * Redis did not hear from this node for `deadAfterMs` since its last write: it may have been
   * taken for dead.
   */
  #mayHaveBeenDead = false;
  /**
   * Calls written before this node may have been taken for dead, that Redis (with its data) then
   * had no owner for; written again once Redis lost its data.
   */
  readonly #unowned = new Set<string>();

  constructor(options: CallTakeoverOptions) {
    this.#options = options;
    const { snapshotSecret, previousSnapshotSecrets } = options.config;
    this.#seal =
      snapshotSecret === undefined ? undefined : new SnapshotSeal(snapshotSecret, previousSnapshotSecrets);
  }

  start(): void {
    this.#lastBeatAt = this.#options.clock.now();
    this.#scheduleWrite();
    this.#scheduleBeat();
  }

  /**
   * The node stops (its calls are about to be hung up): their snapshots go, so no node resumes
   * a call ended on purpose. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#writeTimer?.cancel();
    this.#beatTimer?.cancel();
    const removals = [...this.#written].map(([sipCallId, { generation }]) =>
      this.#options.snapshots.remove(sipCallId, generation),
    );
    this.#written.clear();
    this.#unowned.clear();
    await Promise.allSettled(removals);
  }

  /** The user agent's hook for an in-dialog request with no dialog here. */
  hold(held: HeldRequest): boolean {
    if (this.#closed || this.#held >= MAX_HELD_REQUESTS) return false;
    this.#held++;
    void this.#wait(held).finally(() => this.#held--);
    return true;
  }

  /**
   * A call was just answered: its first snapshot goes out now rather than at the next interval,
   * so a node that dies right after the answer does not take the call with it.
   */
  answered(): void {
    if (this.#closed) return;
    if (this.#writing) {
      this.#writeAgain = true;
      return;
    }
    this.#writeTimer?.cancel();
    this.#runWrite();
  }

  #scheduleWrite(): void {
    this.#writeTimer = this.#options.clock.setTimer(this.#options.config.snapshotIntervalMs, () =>
      this.#runWrite(),
    );
  }

  /** One write at a time; the next is scheduled once it is done (at once if one was asked for). */
  #runWrite(): void {
    this.#writing = true;
    void this.#write().finally(() => {
      this.#writing = false;
      if (this.#closed) return;
      if (this.#writeAgain) {
        this.#writeAgain = false;
        this.#runWrite();
      } else this.#scheduleWrite();
    });
  }

  #scheduleBeat(): void {
    const { deadAfterMs } = this.#options.config;
    this.#beatTimer = this.#options.clock.setTimer(Math.floor(deadAfterMs / BEATS_PER_DEAD_AFTER), () => {
      void this.#beat().finally(() => {
        if (!this.#closed) this.#scheduleBeat();
      });
    });
  }

  /**
   * Notes that Redis heard no beat of this node for long enough to count it dead: its loop
   * stalled, or it could not reach Redis (the other nodes may have).
   */
  #noteSilence(): void {
    if (this.#options.clock.now() - this.#lastBeatAt > this.#options.config.deadAfterMs)
      this.#mayHaveBeenDead = true;
  }

  async #write(): Promise<void> {
    const { snapshots, nodeId, clock } = this.#options;
    this.#noteSilence();
    const mayHaveBeenDead = this.#mayHaveBeenDead;
    // Redis away: nothing sent, nothing marked sent (a call answered meanwhile is this node's alone).
    if (!snapshots.reachable) return;
    const writes = [];
    const current = new Map<string, { call: CallController; text: string }>();
    for (const call of this.#options.liveCalls()) {
      const view = call.takeoverView();
      const text = view && snapshotOf(view, nodeId, this.#seal);
      const sipCallId = view?.session.callId;
      if (!view || !text || !sipCallId) continue;
      current.set(sipCallId, { call, text });
      const written = this.#written.get(sipCallId);
      writes.push({
        sipCallId,
        snapshot: written?.text === text ? undefined : text,
        position: positionOf(view.leg, clock.wallNow()),
        generation: written?.generation ?? FIRST_GENERATION,
        mayBeTakenOver: this.#unowned.has(sipCallId) || (mayHaveBeenDead && written !== undefined),
      });
    }
    // A call being resumed has no view until answered: not ended (its removal would tombstone it).
    const ended = [...this.#written.keys()].filter(
      (sipCallId) => !current.has(sipCallId) && !this.#resuming.has(sipCallId),
    );
    try {
      for (const sipCallId of ended) {
        await snapshots.remove(sipCallId, this.#written.get(sipCallId)?.generation ?? FIRST_GENERATION);
        this.#written.delete(sipCallId);
        this.#unowned.delete(sipCallId);
      }
      if (writes.length === 0) return;
      // A write whose reply is lost may still run in Redis: its call's end must remove it.
      for (const { sipCallId, generation } of writes)
        if (!this.#written.has(sipCallId)) this.#written.set(sipCallId, { text: SENT, generation });
      const { lost, missing, unowned, dataLost } = await snapshots.write(writes);
      if (dataLost)
        this.#options.logger.warn(
          { calls: writes.length },
          'redis lost the takeover state (restarted empty): calls written again, each at its generation',
        );
      for (const { sipCallId, generation } of writes) {
        const entry = current.get(sipCallId);
        if (entry) this.#written.set(sipCallId, { text: entry.text, generation });
      }
      // Owned again, without a snapshot: sent whole at once, so the call can be taken over.
      for (const sipCallId of missing) {
        const written = this.#written.get(sipCallId);
        if (written) this.#written.set(sipCallId, { ...written, text: SENT });
      }
      if (missing.length > 0) this.#writeAgain = true;
      for (const sipCallId of lost) this.#letGo(sipCallId, current.get(sipCallId)?.call);
      for (const sipCallId of unowned) this.#disown(sipCallId, current.get(sipCallId)?.call);
      // A call written is this node's again (Redis lost its data, so nobody's claim is known).
      const refused = new Set([...lost, ...unowned]);
      for (const { sipCallId } of writes) if (!refused.has(sipCallId)) this.#unowned.delete(sipCallId);
      if (mayHaveBeenDead) this.#mayHaveBeenDead = false;
    } catch {
      // Redis lost or slow: the link has said so; the next write sends what changed meanwhile.
    }
  }

  /** Another node owns the call now: this one stops carrying it, without BYE. */
  #letGo(sipCallId: string, call: CallController | undefined): void {
    this.#written.delete(sipCallId);
    this.#unowned.delete(sipCallId);
    const session = call?.takeoverView()?.session;
    if (!session) return;
    this.#options.logger.warn(
      { callId: call?.id, sipCallId },
      'call taken over by another node: letting it go',
    );
    session.terminate({ by: 'local', reason: 'taken_over' });
  }

  /**
   * Not written again, so no other node resumes it while it may be carried elsewhere; still sent
   * marked, so this node lets it go once another owns it or it ended there.
   */
  #disown(sipCallId: string, call: CallController | undefined): void {
    if (this.#unowned.has(sipCallId)) return;
    this.#unowned.add(sipCallId);
    this.#options.logger.warn(
      { callId: call?.id, sipCallId },
      'call may have been taken over while this node was counted dead: no longer snapshotted',
    );
  }

  /** How many calls this node may claim now: none while draining, overloaded or full. */
  #room(): number {
    const { draining, overloaded, room } = this.#options;
    return draining() || overloaded() ? 0 : Math.max(0, room());
  }

  async #beat(): Promise<void> {
    this.#noteSilence();
    const sentAt = this.#options.clock.now();
    try {
      // A node without room is left out of the choice, so the others get its share.
      const free = this.#room();
      const { claimed, unconfirmed } = await this.#options.snapshots.beat(free, free === 0);
      this.#lastBeatAt = sentAt;
      // Claimed during stop(): left in this node's hashes, the live nodes claim them once it is dead.
      if (this.#closed) return;
      const unknown = [...claimed, ...unconfirmed].filter((call) => !this.#knows(call.sipCallId));
      const room = this.#room();
      for (const call of unknown.slice(0, room)) this.#resume(call);
      const over = unknown.slice(room).map((call) => call.sipCallId);
      // Not given back now: still this node's, reported again at the next beat.
      if (over.length > 0) await this.#options.snapshots.giveBack(over).catch(() => undefined);
    } catch {
      // Redis away or slow: no beat counted, so other nodes may take this one's calls meanwhile.
    }
  }

  /**
   * This node carries the call, resumes it, or removes it (ended, or unusable): a repeated
   * claim's answer must not resume it again.
   */
  #knows(sipCallId: string): boolean {
    return (
      this.#written.has(sipCallId) || this.#options.liveCalls().some((call) => call.sipCallId === sipCallId)
    );
  }

  /** Resumes a call claimed for this node unless it knows it already; true if resumed. */
  #resume(claimed: ClaimedCall): boolean {
    const { logger } = this.#options;
    if (this.#knows(claimed.sipCallId)) return false;
    // Claimed, it is in this node's hashes: removed when it ends, like the calls answered here
    // (an unusable one at the next write, so it is not reported again).
    this.#written.set(claimed.sipCallId, { text: claimed.snapshot, generation: claimed.generation });
    const parsed = parseSnapshot(claimed.snapshot, claimed.position, this.#seal);
    const built = parsed.ok
      ? resumedCall(this.#options.resumeContext(), parsed.snapshot, parsed.position)
      : parsed;
    if (!built.ok) {
      logger.warn({ sipCallId: claimed.sipCallId, reason: built.reason }, 'claimed call not resumed');
      this.#options.unusable();
      return false;
    }
    this.#resuming.add(claimed.sipCallId);
    const call = this.#options.adopt(built.call);
    // The first state is `answered`, right after the dialog is registered and before the
    // re-INVITE goes out: held requests go in now, so a BYE ends the call rather than racing it.
    call.once('state', () => {
      this.#resuming.delete(claimed.sipCallId);
      for (const deliver of this.#waiting.get(claimed.sipCallId) ?? []) deliver();
    });
    call.once('ended', () => this.#resuming.delete(claimed.sipCallId));
    logger.info(
      { callId: call.id, sipCallId: claimed.sipCallId, fromNode: built.call.takeover.fromNode },
      'taking over call',
    );
    return true;
  }

  /** Holds `held` until its call is resumed here (then delivers it) or cannot be (481). */
  async #wait(held: HeldRequest): Promise<void> {
    const { clock, snapshots, config } = this.#options;
    const sipCallId = held.request.callId();
    const deadline = clock.now() + config.deadAfterMs + HOLD_MARGIN_MS;
    while (!this.#closed && clock.now() < deadline) {
      if (held.deliver()) return;
      if (!this.#resuming.has(sipCallId)) {
        // No room here: 481 without claiming, so the balancer tries a node that can take it.
        if (this.#room() === 0) break;
        const claim = await snapshots.claim(sipCallId).catch(() => undefined);
        if (claim?.kind === 'unknown' || this.#closed) break;
        // `mine`: an earlier claim's reply was lost; resumed unless known here.
        if ((claim?.kind === 'claimed' || claim?.kind === 'mine') && claim.call && this.#resume(claim.call))
          continue;
      }
      if (await this.#delivered(sipCallId, held)) return;
    }
    if (!held.deliver()) respondSafely(held, 481);
  }

  /** Waits one poll interval for `held`'s call to be resumed here; true once delivered. */
  #delivered(sipCallId: string, held: HeldRequest): Promise<boolean> {
    const waiting = this.#waiting.get(sipCallId) ?? new Set<() => boolean>();
    this.#waiting.set(sipCallId, waiting);
    return new Promise((resolve) => {
      const settle = (delivered: boolean): void => {
        timer.cancel();
        waiting.delete(deliver);
        if (waiting.size === 0) this.#waiting.delete(sipCallId);
        resolve(delivered);
      };
      const deliver = (): boolean => {
        const delivered = held.deliver();
        if (delivered) settle(true);
        return delivered;
      };
      const timer = this.#options.clock.setTimer(HOLD_POLL_MS, () => settle(false));
      waiting.add(deliver);
    });
  }
}

/** A held request's transaction may have ended meanwhile (shutdown). */
function respondSafely(held: HeldRequest, status: number): void {
  try {
    held.respond(status);
  } catch {
    // Nothing left to answer.
  }
}

/**
 * What another node needs to continue an answered call, as written to Redis and read back:
 * the carrier dialog (identifiers, CSeq spaces, route set, targets), both SDPs (never with SRTP
 * keys), the bot stream target (without its credentials, and its URL without user info or
 * query: the node resuming the call takes them from its own config),
 * the call's identity and times; and, apart because it changes every frame, the RTP position
 * of the stream towards the caller. A snapshot read back is validated field by field: one
 * written by another version, or damaged, is refused rather than half used.
 */
import { z } from 'zod';
import { streamTargetSchema } from '../config/index.js';
import type { RtpPosition } from '../media/index.js';
import type { DialogState } from '../sip/index.js';
import { shownUrl } from '../util/index.js';
import type { CallerIdentityParameters } from './caller-id.js';
import type { TakeoverView } from './ports.js';

/** Bounds on what a snapshot may hold: an SDP, a route set, a header value. */
const MAX_SDP_CHARS = 16_384;
const MAX_ROUTES = 16;
const text = z.string().max(2048);

const snapshotSchema = z.object({
  v: z.literal(1),
  /** The node carrying the call when the snapshot was written. */
  node: text,
  call: z.object({
    id: text,
    direction: z.enum(['inbound', 'outbound']),
    from: text,
    to: text,
    trunk: text,
    route: text.optional(),
    codec: text.optional(),
    callerIdentity: z.record(z.string().max(32), text).optional(),
    startedAtWall: z.number(),
    answeredAtWall: z.number(),
  }),
  target: streamTargetSchema.omit({ auth: true }).extend({
    /** The URL had user info or a query, which the snapshot leaves out. */
    urlHidden: z.literal(true).optional(),
  }),
  dialog: z.object({
    callId: text,
    localTag: text,
    remoteTag: text,
    local: text,
    remote: text,
    remoteTarget: text,
    routeSet: z.array(text).max(MAX_ROUTES),
    localSeq: z.number().int().min(0),
    remoteSeq: z.number().int().min(0).optional(),
    peer: z.object({
      transport: z.enum(['udp', 'tcp', 'tls', 'ws']),
      address: text,
      port: z.number().int().min(1).max(65_535),
    }),
  }),
  sdp: z.object({ local: z.string().max(MAX_SDP_CHARS), remote: z.string().max(MAX_SDP_CHARS) }),
});

const positionSchema = z.object({
  ssrc: z.number().int().min(0).max(0xffff_ffff),
  sequenceNumber: z.number().int().min(0).max(0xffff),
  timestamp: z.number().int().min(0).max(0xffff_ffff),
  /** Wall-clock ms when the position was read. */
  atWall: z.number(),
});

export type CallSnapshot = z.output<typeof snapshotSchema>;
export type SnapshotPosition = z.output<typeof positionSchema>;

/** An SDES key in use (RFC 4568), or any inline key left after the capabilities go. */
const KEY_IN_USE = /^a=crypto:|inline:/im;
/** RFC 5939 capability lines: an SRTP option (keys in `acap`) the call did not take. */
const CAPABILITY_LINES = /^a=(?:acap:\d+ crypto:|tcap:|pcfg:).*(?:\r?\n|$)/gim;

/** `sdp` without SRTP capability lines; undefined when it holds a key in use. */
function keylessSdp(sdp: string): string | undefined {
  const stripped = sdp.replace(CAPABILITY_LINES, '');
  return KEY_IN_USE.test(stripped) ? undefined : stripped;
}

/**
 * An answered call's snapshot (JSON), or undefined when it cannot be continued elsewhere: its
 * session has no SDP yet, or its media is SRTP (the keys are not shared between nodes).
 */
export function snapshotOf(view: TakeoverView, node: string): string | undefined {
  const { session, call, progress } = view;
  const { trunk, target, answeredAtWall } = progress;
  const dialog: DialogState | undefined = session.dialog?.state();
  const local = session.lastLocalSdp;
  const remote = session.remoteSdp;
  if (!dialog || !trunk || !target || answeredAtWall === undefined) return undefined;
  const sdp = { local: local && keylessSdp(local), remote: remote && keylessSdp(remote) };
  if (sdp.local === undefined || sdp.remote === undefined) return undefined;
  const { auth: _credentials, url, ...publicTarget } = target;
  const shown = shownUrl(url);
  const snapshot: CallSnapshot = {
    v: 1,
    node,
    call: {
      id: call.id,
      direction: call.direction,
      from: call.from,
      to: call.to,
      trunk,
      ...(progress.route === undefined ? {} : { route: progress.route }),
      ...(progress.codec === undefined ? {} : { codec: progress.codec }),
      ...(progress.callerIdentity ? { callerIdentity: { ...progress.callerIdentity } } : {}),
      startedAtWall: view.startedAtWall,
      answeredAtWall,
    },
    target: { ...publicTarget, url: shown, ...(shown === url ? {} : { urlHidden: true as const }) },
    dialog: { ...dialog, ...(dialog.remoteSeq === undefined ? {} : { remoteSeq: dialog.remoteSeq }) },
    sdp: { local: sdp.local, remote: sdp.remote },
  };
  return JSON.stringify(snapshot);
}

export function positionOf(leg: TakeoverView['leg'], atWall: number): string {
  const position: SnapshotPosition = { ...leg.position(), atWall };
  return JSON.stringify(position);
}

/** A stored snapshot and position, or the reason they cannot be used. */
export function parseSnapshot(
  snapshotText: string,
  positionText: string,
): { ok: true; snapshot: CallSnapshot; position: SnapshotPosition } | { ok: false; reason: string } {
  const snapshot = snapshotSchema.safeParse(safeJson(snapshotText));
  if (!snapshot.success) return { ok: false, reason: 'malformed snapshot' };
  const position = positionSchema.safeParse(safeJson(positionText));
  if (!position.success) return { ok: false, reason: 'malformed RTP position' };
  return { ok: true, snapshot: snapshot.data, position: position.data };
}

/** The caller identity parameters as the bot's `start` carries them. */
export function callerIdentityOf(snapshot: CallSnapshot): CallerIdentityParameters | undefined {
  return snapshot.call.callerIdentity as CallerIdentityParameters | undefined;
}

/**
 * Packets the dead node may have sent beyond one per frame since the position was read (an RFC
 * 4733 event's last tick can send a segment's end copies with its own end packet), so the
 * continued sequence never goes backwards.
 */
const SEQUENCE_MARGIN = 5;

/**
 * Where the continued stream starts, `nowWall` later: the timestamp moves with the wall clock
 * at the codec's RTP rate (RFC 3550 §5.1), the sequence number by one per frame, so the
 * caller sees the gap as lost packets of one stream rather than a new one.
 */
export function continuedPosition(
  position: SnapshotPosition,
  nowWall: number,
  rtpClockRate: number,
  frameMs: number,
): RtpPosition {
  const elapsedMs = Math.max(0, nowWall - position.atWall);
  return {
    ssrc: position.ssrc,
    sequenceNumber: (position.sequenceNumber + Math.ceil(elapsedMs / frameMs) + SEQUENCE_MARGIN) & 0xffff,
    timestamp: (position.timestamp + Math.round((elapsedMs * rtpClockRate) / 1000)) >>> 0,
  };
}

function safeJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

/**
 * What another node needs to continue an answered call, as written to Redis and read back:
 * the carrier dialog (identifiers, CSeq spaces, route set, targets), both SDPs, the bot stream
 * target (without its credentials, and its URL without user info or query: the node resuming
 * the call takes them from its own config), the call's identity and times; and, apart because
 * it changes every frame, the RTP position of the stream towards the caller (with its SRTP
 * rollover counters). An SRTP call's SDPs hold its SDES keys: they go only sealed under the
 * cluster's `snapshotSecret` (snapshot-seal.ts), and without one the call is not snapshotted.
 * A snapshot read back is validated field by field: one written by another version, or
 * damaged, is refused rather than half used.
 */
import { z } from 'zod';
import { streamTargetSchema } from '../config/index.js';
import { movedOn, type RtpPosition } from '../media/index.js';
import type { DialogState } from '../sip/index.js';
import { shownUrl } from '../util/index.js';
import type { CallerIdentityParameters } from './caller-id.js';
import type { TakeoverView } from './ports.js';
import type { SnapshotSeal } from './snapshot-seal.js';

/** Bounds on what a snapshot may hold: an SDP, a route set, a header value. */
const MAX_SDP_CHARS = 16_384;
/** Both SDPs sealed: base64 of their JSON, with the IV and tag. */
const MAX_SEALED_CHARS = 48_000;
const MAX_ROUTES = 16;
const text = z.string().max(2048);

const sdpPairSchema = z.object({
  local: z.string().max(MAX_SDP_CHARS),
  remote: z.string().max(MAX_SDP_CHARS),
});

const storedSnapshotSchema = z.object({
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
  /** Both SDPs, or, for an SRTP call, both sealed (SnapshotSeal) because they hold its keys. */
  sdp: z.union([sdpPairSchema, z.object({ sealed: z.string().max(MAX_SEALED_CHARS) })]),
});

const uint32 = z.number().int().min(0).max(0xffff_ffff);
/** RFC 3711 §3.4: 31 bits. */
const srtcpIndex = z
  .number()
  .int()
  .min(0)
  .max(2 ** 31 - 1);
const positionSchema = z.object({
  ssrc: uint32,
  sequenceNumber: z.number().int().min(0).max(0xffff),
  timestamp: uint32,
  srtp: z
    .object({
      rolloverCount: uint32,
      srtcpIndex,
      received: z
        .object({
          ssrc: uint32,
          rolloverCount: uint32,
          highestSeq: z.number().int().min(0).max(0xffff),
          srtcpIndex: srtcpIndex.optional(),
        })
        .optional(),
    })
    .optional(),
  /** Wall-clock ms when the position was read. */
  atWall: z.number(),
});

/** A snapshot as read back: an SRTP call's SDPs opened. */
export type CallSnapshot = Omit<z.output<typeof storedSnapshotSchema>, 'sdp'> & {
  sdp: z.output<typeof sdpPairSchema>;
};
type StoredSnapshot = z.input<typeof storedSnapshotSchema>;
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
 * The SDPs as a snapshot stores them: without unused SRTP options; for an SRTP call whole and
 * sealed, or undefined with no seal (its keys never go to Redis in the clear).
 */
function storedSdp(
  local: string,
  remote: string,
  callId: string,
  seal: SnapshotSeal | undefined,
): StoredSnapshot['sdp'] | undefined {
  const keyless = { local: keylessSdp(local), remote: keylessSdp(remote) };
  if (keyless.local !== undefined && keyless.remote !== undefined)
    return { local: keyless.local, remote: keyless.remote };
  return seal ? { sealed: seal.seal(JSON.stringify({ local, remote }), callId) } : undefined;
}

/**
 * An answered call's snapshot (JSON), or undefined when it cannot be continued elsewhere: its
 * session has no SDP yet, or its media is SRTP and there is no `seal` for its keys.
 */
export function snapshotOf(view: TakeoverView, node: string, seal?: SnapshotSeal): string | undefined {
  const { session, call, progress } = view;
  const { trunk, target, answeredAtWall } = progress;
  const dialog: DialogState | undefined = session.dialog?.state();
  const local = session.lastLocalSdp;
  const remote = session.remoteSdp;
  if (!dialog || !trunk || !target || answeredAtWall === undefined) return undefined;
  if (local === undefined || remote === undefined) return undefined;
  const sdp = storedSdp(local, remote, dialog.callId, seal);
  if (!sdp) return undefined;
  const { auth: _credentials, url, ...publicTarget } = target;
  const shown = shownUrl(url);
  const snapshot: StoredSnapshot = {
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
    sdp,
  };
  return JSON.stringify(snapshot);
}

export function positionOf(leg: TakeoverView['leg'], atWall: number): string {
  const position: SnapshotPosition = { ...leg.position(), atWall };
  return JSON.stringify(position);
}

/** A stored snapshot and position (an SRTP call's SDPs opened with `seal`), or why they cannot be used. */
export function parseSnapshot(
  snapshotText: string,
  positionText: string,
  seal?: SnapshotSeal,
): { ok: true; snapshot: CallSnapshot; position: SnapshotPosition } | { ok: false; reason: string } {
  const stored = storedSnapshotSchema.safeParse(safeJson(snapshotText));
  if (!stored.success) return { ok: false, reason: 'malformed snapshot' };
  const position = positionSchema.safeParse(safeJson(positionText));
  if (!position.success) return { ok: false, reason: 'malformed RTP position' };
  const { sdp, ...rest } = stored.data;
  if (!('sealed' in sdp)) return { ok: true, snapshot: { ...rest, sdp }, position: position.data };
  if (!seal) return { ok: false, reason: 'an SRTP call, and no cluster.takeover.snapshotSecret here' };
  const opened = seal.open(sdp.sealed, rest.dialog.callId);
  const pair = opened === undefined ? undefined : sdpPairSchema.safeParse(safeJson(opened));
  if (!pair?.success)
    return { ok: false, reason: "an SRTP call's keys, not sealed with this snapshotSecret" };
  // Without its rollover counters the stream would go on from ROC 0: refused, not garbled.
  if (!position.data.srtp) return { ok: false, reason: 'an SRTP call without its SRTP position' };
  return { ok: true, snapshot: { ...rest, sdp: pair.data }, position: position.data };
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
 * RTCP reports the dead node may have sent since: one per 2.5 s at most (RFC 3550 §6.3.5, half
 * the 5 s interval), and a margin. An SRTCP index skipped is harmless; one used twice is a
 * replay to the far end (RFC 3711 §3.4).
 */
const MIN_REPORT_GAP_MS = 2500;
const SRTCP_MARGIN = 4;

/**
 * Where the continued stream starts, `nowWall` later: the timestamp moves with the wall clock
 * at the codec's RTP rate (RFC 3550 §5.1), the sequence number by one per frame (its SRTP
 * rollover counter with it), so the caller sees the gap as lost packets of one stream rather
 * than a new one.
 */
export function continuedPosition(
  position: SnapshotPosition,
  nowWall: number,
  rtpClockRate: number,
  frameMs: number,
): RtpPosition {
  const elapsedMs = Math.max(0, nowWall - position.atWall);
  const { atWall: _read, ...stream } = position;
  return movedOn(
    stream,
    Math.ceil(elapsedMs / frameMs) + SEQUENCE_MARGIN,
    Math.round((elapsedMs * rtpClockRate) / 1000),
    Math.ceil(elapsedMs / MIN_REPORT_GAP_MS) + SRTCP_MARGIN,
  );
}

function safeJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

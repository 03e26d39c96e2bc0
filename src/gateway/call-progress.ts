/** What a call learns as it runs (its progress), and how it came to this node (a takeover). */
import type { StreamTarget } from '../config/index.js';
import type { CallerIdentityParameters } from './caller-id.js';

/** A call another node took over when the one carrying it died. */
export interface TakeoverRecord {
  /** The node that took it over (and wrote this record). */
  node: string;
  /** The node that died. */
  fromNode: string;
  /** From the dead node's last snapshot to the carrier's answer to the re-INVITE, in ms. */
  gapMs: number;
}

/** What a call learns as it runs, in one place: its summary, its record and its snapshot read it. */
export interface CallProgress {
  trunk: string | undefined;
  route: string | undefined;
  target: StreamTarget | undefined;
  codec: string | undefined;
  /** An inbound caller's identity headers, for the bot. */
  callerIdentity: CallerIdentityParameters | undefined;
  answeredAtWall: number | undefined;
  setupMs: number | undefined;
  endedAtWall: number | undefined;
  takeover: TakeoverRecord | undefined;
}

export function newCallProgress(): CallProgress {
  return {
    trunk: undefined,
    route: undefined,
    target: undefined,
    codec: undefined,
    callerIdentity: undefined,
    answeredAtWall: undefined,
    setupMs: undefined,
    endedAtWall: undefined,
    takeover: undefined,
  };
}

/** What the bot's `start` says of the call (BotCallInfo): parties, the caller's identity, a takeover. */
export function botCallInfo(
  call: { id: string; from: string; to: string; direction: 'inbound' | 'outbound' },
  { callerIdentity }: CallProgress,
  resumed: boolean,
) {
  const info = { callSid: call.id, from: call.from, to: call.to, direction: call.direction };
  return {
    ...info,
    ...(callerIdentity ? { callerIdentity } : {}),
    ...(resumed ? { resumed: true as const } : {}),
  };
}

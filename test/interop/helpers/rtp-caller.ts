/**
 * Callers for the takeover scenarios (test/interop/takeover.test.ts, bench/takeover-repeat.ts):
 * each places one call through the SIP stack, sends µ-law silence every 20 ms to wherever the
 * latest SDP points (a taking-over node's re-INVITE moves it) and records every RTP packet it
 * gets back, with whether it carries the bot's tone. `takeoverGap` reads one call's stream
 * across a node's death: the audio gap and how SSRC, sequence and timestamp moved over it.
 */
import { createSocket, type Socket } from 'node:dgram';
import { decodeMulaw } from '../../../src/media/g711.js';
import type { OutboundSession } from '../../../src/sip/index.js';
import { createOffer, negotiateAnswer, parseAnswer } from '../../../src/sip/sdp.js';
import type { StackUa } from './stack-ua.js';

/** A µ-law frame whose mean magnitude is above this carries the bot's tone (silence is 0). */
const TONE_LEVEL = 1000;

export interface ReceivedPacket {
  atMs: number;
  from: string;
  ssrc: number;
  sequence: number;
  timestamp: number;
  tone: boolean;
}

export interface RtpCaller {
  index: number;
  session: OutboundSession;
  rtp: Socket;
  target: { address: string; port: number };
  /** Media address of the node that answered (the 200 OK's SDP); undefined if not answered. */
  answeredBy: string | undefined;
  /** `performance.now()` when the 200 OK arrived. */
  answeredAtMs: number | undefined;
  received: ReceivedPacket[];
  sender: NodeJS.Timeout;
}

/** One call to `sip:1000@proxy`; RTP out every 20 ms once answered. Resolves on its outcome. */
export async function placeRtpCall(agent: StackUa, proxy: string, index: number): Promise<RtpCaller> {
  const rtp = createSocket('udp4');
  rtp.on('error', () => undefined);
  await new Promise<void>((resolve) => rtp.bind(0, '127.0.0.1', resolve));
  const rtpPort = rtp.address().port;
  const [host, port] = proxy.split(':') as [string, string];
  let version = 1;
  const answerFor = (offer: string) =>
    negotiateAnswer(offer, {
      address: '127.0.0.1',
      port: rtpPort,
      preferences: ['PCMU'],
      sessionVersion: ++version,
    });
  const session = agent.ua.call({
    requestUri: `sip:1000@${host}:${port}`,
    destination: { transport: 'udp', address: host, port: Number(port) },
    from: `<sip:caller${index}@127.0.0.1:${agent.port}>`,
    to: `<sip:1000@${host}:${port}>`,
    sdp: createOffer({ address: '127.0.0.1', port: rtpPort, codecs: ['PCMU'] }),
    // The taking-over node's re-INVITE moves our RTP to its new port.
    answerOffer: (offer) => {
      const answer = answerFor(offer);
      if (!answer.ok) return { status: 488 };
      caller.target = { address: answer.remote.address, port: answer.remote.port };
      return { sdp: answer.answer };
    },
  });
  const caller: RtpCaller = {
    index,
    session,
    rtp,
    target: { address: '127.0.0.1', port: 9 },
    answeredBy: undefined,
    answeredAtMs: undefined,
    received: [],
    sender: setInterval(() => undefined, 1000),
  };
  rtp.on('message', (packet, rinfo) => {
    const payload = decodeMulaw(packet.subarray(12));
    let sum = 0;
    for (const sample of payload) sum += Math.abs(sample);
    caller.received.push({
      atMs: performance.now(),
      from: rinfo.address,
      ssrc: packet.readUInt32BE(8),
      sequence: packet.readUInt16BE(2),
      timestamp: packet.readUInt32BE(4),
      tone: payload.length > 0 && sum / payload.length > TONE_LEVEL,
    });
  });
  const outcome = await session.outcome;
  clearInterval(caller.sender);
  if (outcome.kind !== 'answered') return caller;
  const answer = parseAnswer(outcome.response.body.toString(), ['PCMU']);
  if (!answer.ok) throw new Error(`call ${index}: unusable SDP answer`);
  caller.target = { address: answer.remote.address, port: answer.remote.port };
  caller.answeredBy = answer.remote.address;
  caller.answeredAtMs = performance.now();
  // µ-law silence, 20 ms a packet, our own SSRC and sequence.
  let sequence = 0;
  const packet = Buffer.alloc(12 + 160, 0xff);
  packet[0] = 0x80;
  packet[1] = 0; // no marker, payload type 0 (PCMU): the silence is audio the gateway plays on
  packet.writeUInt32BE(0x1234_0000 + index, 8);
  caller.sender = setInterval(() => {
    packet.writeUInt16BE(sequence++ & 0xffff, 2);
    packet.writeUInt32BE((sequence * 160) >>> 0, 4);
    rtp.send(packet, caller.target.port, caller.target.address);
  }, 20);
  return caller;
}

/** Sends BYE in the caller's dialog and stops its RTP; the BYE's final status. */
export async function hangUp(agent: StackUa, caller: RtpCaller): Promise<number> {
  const dialog = caller.session.dialog;
  if (!dialog) throw new Error(`call ${caller.index} has no dialog to hang up`);
  const bye = dialog.createRequest('BYE');
  const destination = dialog.destination();
  caller.session.terminate({ by: 'local', reason: 'hangup' });
  const response = await agent.ua.request(bye, destination);
  clearInterval(caller.sender);
  return response.status;
}

/** Stops the caller's RTP and closes its socket (idempotent). */
export function closeCaller(caller: RtpCaller): void {
  clearInterval(caller.sender);
  try {
    caller.rtp.close();
  } catch {
    // Already closed.
  }
}

export const tonesFrom = (caller: RtpCaller, address: string, sinceMs = 0): ReceivedPacket[] =>
  caller.received.filter((packet) => packet.tone && packet.from === address && packet.atMs >= sinceMs);

/** The longest wait between two tone packets received after `sinceMs`. */
export function longestTonePause(caller: RtpCaller, sinceMs: number): number {
  const tones = caller.received.filter((packet) => packet.tone && packet.atMs > sinceMs);
  let longest = 0;
  for (let i = 1; i < tones.length; i++) longest = Math.max(longest, tones[i]!.atMs - tones[i - 1]!.atMs);
  return longest;
}

export interface TakeoverGap {
  /** Last tone from the dead node to the first tone from the taking-over node. */
  gapMs: number;
  /** Last packet from the dead node to the first packet from the taking-over node. */
  silentMs: number;
  ssrcBefore: number;
  ssrcAfter: number;
  /** Sequence numbers the stream moved on by over the silence (mod 2^16). */
  sequenceJump: number;
  /** Timestamp units it moved on by (mod 2^32). */
  timestampJump: number;
}

/**
 * One call's stream across the death of `from` at `killedAtMs` and its takeover by `to`;
 * undefined while there is no tone on both sides. Packets from `from` up to 100 ms after the
 * kill count as before it (they were in flight).
 */
export function takeoverGap(
  caller: RtpCaller,
  { from, to, killedAtMs }: { from: string; to: string; killedAtMs: number },
): TakeoverGap | undefined {
  const before = caller.received.filter((packet) => packet.from === from && packet.atMs < killedAtMs + 100);
  const lastToneBefore = before.filter((packet) => packet.tone).at(-1);
  const firstToneAfter = tonesFrom(caller, to, killedAtMs)[0];
  const lastBefore = before.at(-1);
  const firstAfter = caller.received.find((packet) => packet.from === to && packet.atMs >= killedAtMs);
  if (!lastToneBefore || !firstToneAfter || !lastBefore || !firstAfter) return undefined;
  return {
    gapMs: firstToneAfter.atMs - lastToneBefore.atMs,
    silentMs: firstAfter.atMs - lastBefore.atMs,
    ssrcBefore: lastBefore.ssrc,
    ssrcAfter: firstAfter.ssrc,
    sequenceJump: (firstAfter.sequence - lastBefore.sequence + 0x10000) & 0xffff,
    timestampJump: (firstAfter.timestamp - lastBefore.timestamp) >>> 0,
  };
}

/**
 * The load bench's tagged talk through the gateway's real jitter buffer. A carrier 2 % fast
 * fills the buffer, which accelerates the surplus away, and every tagged frame still reaches
 * the bot with a copy intact: ordinary acceleration shortens only quiet or periodic audio, and
 * a tag rides a loud, aperiodic burst (talker.ts). A sender that stalls, as the bench's callers
 * and the gateway's own thread do on a busy box, leaves the level standing above its limit,
 * and then every packet is shortened whatever its audio: that cuts the rare tag, the bench's
 * "tagged frames missing" in rounds where nothing was lost (bench/RESULTS.md).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TAG_OFFSETS, TagStreamReader, writeTag } from '../../../bench/load/frame-tag.js';
import { FRAME_SAMPLES, Talker } from '../../../bench/load/talker.js';
import { AudioReceiver, G711Decoder, G711Encoder, parseRtp } from '../../../src/media/index.js';
import { FakeClock } from '../../../src/util/index.js';

const FRAME_MS = 20;
const RTP_HEADER_BYTES = 12;

interface Sender {
  /** One packet more every this many frames (the sender's clock fast). */
  fastEvery?: number;
  /** The last `stallFrames` of every `stallEvery` frames are held, then sent at once. */
  stallEvery?: number;
  stallFrames?: number;
}

/** One call's tagged talk from `sender` through the buffer, read as the bot gets it. */
function replayCall(
  seed: number,
  seconds: number,
  { fastEvery = 0, stallEvery = 0, stallFrames = 0 }: Sender,
): { sent: number; missing: number; removedMs: number } {
  const clock = new FakeClock();
  const receiver = new AudioReceiver(new G711Decoder('PCMU'), clock);
  const encoder = new G711Encoder('PCMU');
  const talker = new Talker(seed);
  const reader = new TagStreamReader(FRAME_SAMPLES);
  const pcm = new Int16Array(FRAME_SAMPLES);
  const sent = new Set<number>();
  const heard = new Set<number>();
  const ticks = (seconds * 1000) / FRAME_MS;
  const held: Buffer[] = [];
  let sequence = 0;
  for (let tick = 0; tick < ticks; tick++) {
    clock.advance(FRAME_MS);
    for (let packets = fastEvery > 0 && tick % fastEvery === 0 ? 2 : 1; packets > 0; packets--) {
      const packet = Buffer.alloc(RTP_HEADER_BYTES + FRAME_SAMPLES);
      packet[0] = 0x80;
      packet.writeUInt16BE(sequence & 0xffff, 2);
      packet.writeUInt32BE((sequence * FRAME_SAMPLES) >>> 0, 4);
      const payload = packet.subarray(RTP_HEADER_BYTES);
      const callerSentUs = 1e6 + 1000 * FRAME_MS * sequence++;
      if (talker.next(payload)) {
        for (const at of TAG_OFFSETS) writeTag(payload, at, { call: seed, callerSentUs, botSentUs: 0 });
        // Not the first seconds (the buffer settling) nor the last (still queued at the end).
        if (tick > 100 && tick < ticks - 100) sent.add(callerSentUs);
      }
      held.push(packet);
    }
    if (stallEvery === 0 || tick % stallEvery < stallEvery - stallFrames) {
      for (const packet of held.splice(0)) {
        const received = parseRtp(packet, clock.now());
        if (received) receiver.insert(received);
      }
    }
    // As the bot gets it: the packet's bytes when it plays as it came, else the samples encoded.
    const passed = receiver.pullPassing(pcm);
    const wire = passed ?? encoder.encode(pcm);
    for (const { tag } of reader.read(wire, 0, wire.length)) heard.add(tag.callerSentUs);
  }
  const missing = [...sent].filter((callerSentUs) => !heard.has(callerSentUs)).length;
  const removedMs = (receiver.stats().removedSamplesForAcceleration * 1000) / 8000;
  return { sent: sent.size, missing, removedMs };
}

test('a carrier 2 % fast: the surplus is accelerated away and no tagged frame loses both copies', () => {
  let sent = 0;
  let missing = 0;
  let removedMs = 0;
  for (let seed = 1; seed <= 6; seed++) {
    const call = replayCall(seed, 40, { fastEvery: 50 });
    sent += call.sent;
    missing += call.missing;
    removedMs += call.removedMs;
  }
  // 2 % of 6 calls' 40 s is 4.8 s of surplus audio.
  assert.ok(removedMs > 3000, `${removedMs} ms accelerated away`);
  assert.ok(sent > 1500, `${sent} tagged frames`);
  assert.equal(missing, 0, `${missing} of ${sent} tagged frames with no copy intact`);
});

test('a sender stalling 200 ms every 5 s: the level stands above its limit, and the rare tag is cut', () => {
  let sent = 0;
  let missing = 0;
  for (let seed = 1; seed <= 6; seed++) {
    const call = replayCall(seed, 40, { stallEvery: 250, stallFrames: 10 });
    sent += call.sent;
    missing += call.missing;
  }
  // Shortening a tagged burst by a pitch period cross-fades both copies (each is checksummed).
  assert.ok(missing <= sent / 1000, `${missing} of ${sent} tagged frames with no copy intact`);
});

/**
 * The JavaScript a call costs per 20 ms frame, without its sockets: 200 Twilio PCMU calls
 * side by side (each call's state cold again by its next turn, as in the gateway), each frame
 * both ways as the worker runs it:
 *  caller->bot: parseRtp -> AudioReceiver.insert -> pull (G.711 decode, PLC delay line)
 *               -> the dialect's media message (µ-law, base64, the JSON template); and, in
 *               alternate rounds where the tree has it, pullPassing (the packet's bytes through
 *               the delay line, no decode) -> the media message from those bytes
 *  bot->caller: the dialect reads the bot's media message from its bytes -> Playout.enqueue
 *               -> pullFrame -> G.711 encode -> the RTP packet written; and, in the alternate
 *               rounds where the tree has it, the bot's µ-law kept as its bytes (keepBotMulaw)
 *               -> Playout.mulaw -> pullFrame -> the RTP packet written from those bytes
 * The syscalls around them (RTP in and out, the WebSocket write and read) are what
 * bench/load's forwarder pays as well; this is the part of a call's cost that is ours alone.
 * Only public APIs are used, so the same file measures an older tree for comparison.
 *
 * In the gateway a call's state is colder still: between two of its frames the kernel's
 * network stack, the other calls' sockets and the bot's process all run on the same cores.
 * With `evict-KiB` > 0 that much other memory is read and written between one call's frame and
 * the next (outside the timed part, each call timed on its own), to see how much of a frame's
 * cost is waiting for memory rather than computing.
 *
 *   npx tsx bench/call-compute.ts [rounds=5] [evict-KiB=0]
 */
import { AudioReceiver, G711Decoder, G711Encoder, parseRtp, RtpPacketWriter } from '../src/media/index.js';
import { Playout, TwilioDialect } from '../src/stream/index.js';
import { FakeClock } from '../src/util/index.js';
import { median } from './lib/alloc-meter.js';

const rounds = Number(process.argv[2] ?? 5);
const evictBytes = 1024 * Number(process.argv[3] ?? 0);
const CALLS = 200;
const FRAMES = 2000;
const FRAME_MS = 20;
const SAMPLES = 160;

interface Call {
  dialect: TwilioDialect;
  receiver: AudioReceiver;
  playout: Playout;
  /** The bytes path's bot side, where the tree has it: its own stream, so its own message. */
  mulawBot: { dialect: TwilioDialect; playout: Playout<Uint8Array>; message: Buffer } | undefined;
  encoder: G711Encoder;
  writer: RtpPacketWriter;
  callerFrame: Int16Array;
  botMessage: Buffer;
}

const tone = Int16Array.from({ length: SAMPLES }, (_, i) =>
  Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000)),
);
const mulawTone = new G711Encoder('PCMU').encode(tone).slice();
// An RTP packet as a carrier sends it: a 12-byte header and 160 bytes of µ-law.
const carrierPacket = new Uint8Array(12 + SAMPLES);
carrierPacket[0] = 0x80;
carrierPacket.set(mulawTone, 12);

const clock = new FakeClock();
/** The tree keeps a µ-law bot's audio as its bytes (checked, for older trees). */
const canKeepMulaw = 'mulaw' in Playout && 'keepBotMulaw' in TwilioDialect.prototype;
function openDialect(c: number): { dialect: TwilioDialect; message: Buffer } {
  const dialect = new TwilioDialect();
  dialect.open({ callSid: `CA${c}`, accountSid: 'AC0', customParameters: {} });
  const message = JSON.stringify({
    event: 'media',
    streamSid: dialect.streamSid,
    media: { payload: Buffer.from(mulawTone).toString('base64') },
  });
  return { dialect, message: Buffer.from(message) };
}
function mulawBot(c: number): Call['mulawBot'] {
  if (!canKeepMulaw) return undefined;
  const { dialect, message } = openDialect(c);
  dialect.keepBotMulaw();
  return { dialect, playout: Playout.mulaw({ sampleRate: 8000 }), message };
}
const calls: Call[] = [];
for (let c = 0; c < CALLS; c++) {
  const { dialect, message: botMessage } = openDialect(c);
  calls.push({
    dialect,
    receiver: new AudioReceiver(new G711Decoder('PCMU'), clock),
    playout: new Playout({ sampleRate: 8000 }),
    mulawBot: mulawBot(c),
    encoder: new G711Encoder('PCMU'),
    writer: new RtpPacketWriter(),
    callerFrame: new Int16Array(SAMPLES),
    botMessage,
  });
}

let sequence = 0;
/** The tree passes a PCMU frame that plays as it came as its bytes (checked, for older trees). */
const canPass = 'pullPassing' in AudioReceiver.prototype;
let passing = false;
const callerToBot = (call: Call, now: number): void => {
  // The socket hands over a fresh Buffer per datagram, and ws one per message.
  const bytes = Buffer.from(carrierPacket);
  bytes.writeUInt16BE(sequence & 0xffff, 2);
  bytes.writeUInt32BE((sequence * SAMPLES) >>> 0, 4);
  const packet = parseRtp(bytes, now);
  if (packet) call.receiver.insert(packet);
  if (passing) {
    const mulaw = call.receiver.pullPassing(call.callerFrame);
    if (mulaw) call.dialect.callerMulawFrame(mulaw);
    else call.dialect.callerAudioFrame(call.callerFrame);
    return;
  }
  const pcm = call.receiver.pull(call.callerFrame);
  call.dialect.callerAudioFrame(pcm);
};
const botToCaller = (call: Call): void => {
  const bot = passing ? call.mulawBot : undefined;
  let payload: Uint8Array;
  if (bot) {
    const input = bot.dialect.parse(Buffer.from(bot.message), false);
    if (input.kind === 'mulaw') bot.playout.enqueue(input.mulaw);
    payload = bot.playout.pullFrame().frame;
  } else {
    const input = call.dialect.parse(Buffer.from(call.botMessage), false);
    if (input.kind === 'audio') call.playout.enqueue(input.pcm);
    payload = call.encoder.encode(call.playout.pullFrame().frame);
  }
  call.writer.write(payload, 0, false, sequence & 0xffff, (sequence * SAMPLES) >>> 0, 0x4321);
};

/** Memory the eviction walks through, a cache line at a time, well past any cache. */
const evictionArea = new Uint8Array(evictBytes > 0 ? 64 * 2 ** 20 : 0);
let evictionAt = 0;
const CACHE_LINE = 64;
function evict(): void {
  for (let i = 0; i < evictBytes; i += CACHE_LINE) {
    evictionArea[evictionAt] = (evictionArea[evictionAt] as number) + 1;
    evictionAt = (evictionAt + CACHE_LINE) % evictionArea.length;
  }
}

/** Each call's frame timed on its own, memory evicted between calls: ns over all calls. */
function timedWithEviction(run: (call: Call) => void): bigint {
  let ns = 0n;
  for (const call of calls) {
    const start = process.hrtime.bigint();
    run(call);
    ns += process.hrtime.bigint() - start;
    evict();
  }
  return ns;
}

const up: number[] = [];
const upPassed: number[] = [];
const down: number[] = [];
const downKept: number[] = [];
for (let round = 0; round < rounds * (canPass ? 2 : 1); round++) {
  passing = canPass && round % 2 === 1;
  let upNs = 0n;
  let downNs = 0n;
  for (let frame = 0; frame < FRAMES; frame++, sequence++) {
    clock.advance(FRAME_MS);
    const now = clock.now();
    if (evictBytes > 0) {
      upNs += timedWithEviction((call) => callerToBot(call, now));
      downNs += timedWithEviction(botToCaller);
      continue;
    }
    const start = process.hrtime.bigint();
    for (const call of calls) callerToBot(call, now);
    const middle = process.hrtime.bigint();
    for (const call of calls) botToCaller(call);
    upNs += middle - start;
    downNs += process.hrtime.bigint() - middle;
  }
  (passing ? upPassed : up).push(Number(upNs) / (FRAMES * CALLS));
  (passing && canKeepMulaw ? downKept : down).push(Number(downNs) / (FRAMES * CALLS));
}
const row = (name: string, values: number[]) =>
  `| ${name} | ${Math.round(median(values))} | ${values.map(Math.round).join(', ')} |`;
const eviction = evictBytes > 0 ? `, ${evictBytes / 1024} KiB of other memory touched between calls` : '';
console.log(
  `call-compute: Node ${process.version}, ${CALLS} calls, ${rounds} rounds of ${FRAMES} frames${eviction}\n`,
);
console.log('| direction | ns per frame (median) | rounds |');
console.log('| --- | --- | --- |');
console.log(row('caller->bot (RTP in -> media message)', up));
if (canPass) console.log(row('caller->bot, PCMU passed as its bytes', upPassed));
console.log(row('bot->caller (media message in -> RTP out)', down));
if (canKeepMulaw) console.log(row("bot->caller, the bot's µ-law kept as its bytes", downKept));
// Both directions of each kind of round (older trees: the bot->caller rounds all decode).
const decodedDown = canPass && !canKeepMulaw ? down.filter((_, i) => i % 2 === 0) : down;
console.log(
  row(
    'both',
    up.map((value, i) => value + (decodedDown[i] ?? 0)),
  ),
);
if (canKeepMulaw)
  console.log(
    row(
      'both, as bytes',
      upPassed.map((value, i) => value + (downKept[i] ?? 0)),
    ),
  );

/**
 * Bytes allocated per 20 ms frame on a call's hot path, each direction, the way MediaLeg,
 * CallBridge and StreamConnection drive it (twilio dialect, PCMU, 8 kHz bridge):
 *  caller->bot: parseRtp -> AudioReceiver.insert -> pull (G.711 decode, PLC on 2 % loss)
 *               -> the dialect's media message (what the connection hands ws: the dialect's
 *               reused buffer where the tree has callerAudioFrame)
 *  bot->caller: the dialect parses the bot's media message (base64, µ-law decode)
 *               -> Playout.enqueue -> pullFrame -> G.711 encode -> RtpSession.send (real
 *               socket to a loopback sink)
 * Each frame runs in its own event-loop turn, as the media clock drives it; an empty turn is
 * measured too and subtracted. Allocation is read as the growth of V8's used heap plus
 * ArrayBuffer memory over a window with no garbage collection in it (a large young
 * generation; a window a GC landed in is thrown away and retried: bench/lib/alloc-meter.ts).
 * Only public APIs that main also has are used, so the same file (with its lib) measures an
 * older tree for comparison.
 *
 *   node --expose-gc --max-semi-space-size=64 --min-semi-space-size=64 --import tsx bench/media-alloc.ts [rounds=5]
 */
import { createSocket } from 'node:dgram';
import {
  AudioReceiver,
  G711Decoder,
  G711Encoder,
  PortAllocator,
  parseRtp,
  RtpSession,
} from '../src/media/index.js';
import { Playout, TwilioDialect } from '../src/stream/index.js';
import { FakeClock, SystemClock } from '../src/util/index.js';
import { AllocationMeter, median } from './lib/alloc-meter.js';

const rounds = Number(process.argv[2] ?? 5);
const FRAMES = 3000;
const LOOPBACK = '127.0.0.1';
const meter = new AllocationMeter();

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Bytes per frame, each frame in its own event-loop turn as the media clock runs it. */
function perFrame(frame: (i: number) => void): Promise<number> {
  let next = 0;
  return meter.perOperation(async (count) => {
    for (let i = 0; i < count; i++) {
      frame(next++);
      await nextTurn();
    }
  }, FRAMES);
}

const tone = Int16Array.from({ length: 160 }, (_, i) =>
  Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000)),
);

function callerToBot(): (i: number) => void {
  const clock = new FakeClock();
  const receiver = new AudioReceiver(new G711Decoder('PCMU'), clock);
  const dialect = new TwilioDialect();
  dialect.open({ callSid: 'CA0', accountSid: 'AC0', customParameters: {} });
  const encoder = new G711Encoder('PCMU');
  // RTP packets as a carrier sends them: a 12-byte header and 160 bytes of µ-law.
  const packet = new Uint8Array(172);
  packet[0] = 0x80;
  packet.set(encoder.encode(tone), 12);
  const frame = new Int16Array(160);
  // What the connection hands ws, in whichever form the tree has: its reused buffer, else a string.
  const older = dialect as {
    callerAudioFrame?: (pcm: Int16Array, bot: Int16Array) => unknown;
    callerAudioText?: (pcm: Int16Array, bot: Int16Array) => unknown;
  };
  return (i) => {
    clock.advance(20);
    if (i % 50 !== 7) {
      // 2 % loss, so the G.711 PLC runs too.
      const packetBytes = Buffer.from(packet); // the socket hands over a fresh Buffer per datagram
      packetBytes.writeUInt16BE(i & 0xffff, 2);
      packetBytes.writeUInt32BE((i * 160) >>> 0, 4);
      const parsed = parseRtp(packetBytes, clock.now());
      if (parsed) receiver.insert(parsed);
    }
    const pcm = receiver.pull(frame);
    if (older.callerAudioFrame) older.callerAudioFrame(pcm, pcm);
    else if (older.callerAudioText) older.callerAudioText(pcm, pcm);
    else dialect.callerAudio(pcm);
  };
}

async function botToCaller(): Promise<{ frame: (i: number) => void; close: () => void }> {
  const dialect = new TwilioDialect();
  dialect.open({ callSid: 'CA0', accountSid: 'AC0', customParameters: {} });
  const playout = new Playout({ sampleRate: 8000 });
  const encoder = new G711Encoder('PCMU');
  const botMessage = JSON.stringify({
    event: 'media',
    streamSid: dialect.streamSid,
    media: { payload: Buffer.from(new G711Encoder('PCMU').encode(tone)).toString('base64') },
  });
  const sink = createSocket('udp4');
  await new Promise<void>((resolve) => sink.bind(0, LOOPBACK, resolve));
  sink.on('message', () => undefined);
  const session = await RtpSession.open({
    portRange: new PortAllocator(46000, 46999),
    bindAddress: LOOPBACK,
    clock: new SystemClock(),
    rtcpIntervalMs: 3_600_000,
  });
  session.setRemote(LOOPBACK, sink.address().port);
  const options = { payloadType: 0, timestamp: 0, marker: false };
  return {
    frame: (i) => {
      // ws hands the connection each message in a Buffer of its own, which the dialect reads.
      const input = dialect.parse(Buffer.from(botMessage), false);
      if (input.kind === 'audio') playout.enqueue(input.pcm);
      const { frame } = playout.pullFrame();
      options.timestamp = (i * 160) >>> 0;
      session.send(encoder.encode(frame), options);
    },
    close: () => {
      session.close();
      sink.close();
    },
  };
}

const idle: number[] = [];
const receive: number[] = [];
const send: number[] = [];
const bot = await botToCaller();
for (let round = 0; round < rounds; round++) {
  idle.push(await perFrame(() => undefined));
  receive.push(await perFrame(callerToBot()));
  send.push(await perFrame(bot.frame));
}
bot.close();
const loop = median(idle);
const row = (name: string, values: number[]) =>
  `| ${name} | ${Math.round(median(values) - loop)} | ${values.map((v) => Math.round(v - loop)).join(', ')} |`;
console.log(
  `media-alloc: Node ${process.version}, ${rounds} rounds of ${FRAMES} frames, empty turn ${Math.round(loop)} B subtracted\n`,
);
console.log('| direction | bytes per frame (median) | rounds |');
console.log('| --- | --- | --- |');
console.log(row('caller->bot (RTP in -> media message)', receive));
console.log(row('bot->caller (media message in -> RTP out)', send));

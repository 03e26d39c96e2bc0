/**
 * Bytes allocated per 20 ms frame by each stream dialect's share of the hot path, the way
 * StreamConnection drives it: the caller frame written as the dialect's message into its reused
 * buffer (callerAudioFrame, what the connection hands ws), and one bot audio message parsed
 * (what the connection hands the playout). The baseline in the same run is the same caller
 * frame as a message of its own (callerAudio: a fresh string or buffer per frame). It uses
 * callerAudioFrame only where the tree has it, so the same file measures an older tree, where
 * callerAudio is what the connection sent. Each frame runs in its own event-loop turn; an
 * empty turn is measured too and subtracted (bench/lib/alloc-meter.ts).
 *
 *   node --expose-gc --max-semi-space-size=64 --min-semi-space-size=64 --import tsx bench/dialect-alloc.ts [rounds=5]
 */
import { G711Encoder } from '../src/media/index.js';
import {
  ExotelDialect,
  encodeL16,
  type PcmStreamRate,
  StereoDialect,
  type StreamDialect,
  TwilioDialect,
} from '../src/stream/index.js';
import { AllocationMeter, median } from './lib/alloc-meter.js';

const rounds = Number(process.argv[2] ?? 5);
const FRAMES = 3000;
const meter = new AllocationMeter();
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

function perFrame(frame: () => void): Promise<number> {
  return meter.perOperation(async (count) => {
    for (let i = 0; i < count; i++) {
      frame();
      await nextTurn();
    }
  }, FRAMES);
}

const sine = (rate: number) =>
  Int16Array.from({ length: rate / 50 }, (_, i) =>
    Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)),
  );

interface Case {
  name: string;
  dialect: StreamDialect;
  frame: Int16Array;
  /** One bot audio message as ws hands it over, and whether it came as binary. */
  botMessage: Buffer;
  binary: boolean;
}

function exotel(rate: PcmStreamRate): Case {
  const dialect = new ExotelDialect(rate);
  const frame = sine(rate);
  const payload = Buffer.from(encodeL16(frame)).toString('base64');
  const message = { event: 'media', stream_sid: dialect.streamSid, media: { payload } };
  return {
    name: `exotel ${rate / 1000} kHz`,
    dialect,
    frame,
    botMessage: Buffer.from(JSON.stringify(message)),
    binary: false,
  };
}

function stereo(rate: PcmStreamRate): Case {
  const frame = sine(rate);
  return {
    name: `stereo ${rate / 1000} kHz`,
    dialect: new StereoDialect(rate),
    frame,
    botMessage: Buffer.from(encodeL16(frame)),
    binary: true,
  };
}

function twilio(): Case {
  const dialect = new TwilioDialect();
  const frame = sine(8000);
  const payload = Buffer.from(new G711Encoder('PCMU').encode(frame)).toString('base64');
  const message = { event: 'media', streamSid: dialect.streamSid, media: { payload } };
  return { name: 'twilio', dialect, frame, botMessage: Buffer.from(JSON.stringify(message)), binary: false };
}

const cases = [twilio(), exotel(8000), exotel(16000), stereo(8000), stereo(16000)];
const rows: string[] = [];
const idle: number[] = [];
for (const { dialect } of cases) dialect.open({ callSid: 'CA0', accountSid: 'AC0', customParameters: {} });
const figures = cases.map(() => ({ owned: [] as number[], reused: [] as number[], parse: [] as number[] }));
for (let round = 0; round < rounds; round++) {
  idle.push(await perFrame(() => undefined));
  for (const [index, item] of cases.entries()) {
    const { dialect, frame, botMessage, binary } = item;
    const figure = figures[index] ?? figures[0];
    if (!figure) continue;
    figure.owned.push(await perFrame(() => dialect.callerAudio(frame, frame)));
    // Absent in trees from before the reused buffers (the bench runs there for comparison).
    if ('callerAudioFrame' in dialect)
      figure.reused.push(await perFrame(() => dialect.callerAudioFrame(frame, frame)));
    // ws hands the connection a Buffer; text is made a string before it is parsed.
    figure.parse.push(
      await perFrame(() => dialect.parse(binary ? botMessage : botMessage.toString('utf8'), binary)),
    );
  }
}
const loop = median(idle);
const bytes = (values: number[]) => Math.max(0, Math.round(median(values) - loop));
for (const [index, item] of cases.entries()) {
  const figure = figures[index];
  if (figure)
    rows.push(
      `| ${item.name} | ${bytes(figure.owned)} | ${figure.reused.length ? bytes(figure.reused) : '–'} | ${bytes(figure.parse)} |`,
    );
}
console.log(
  `dialect-alloc: Node ${process.version}, ${rounds} rounds of ${FRAMES} frames, empty turn ${Math.round(loop)} B subtracted\n`,
);
console.log(
  '| dialect | caller frame, own message (baseline) B | caller frame, reused buffer B | bot media message parsed B |',
);
console.log('| --- | --- | --- | --- |');
for (const row of rows) console.log(row);

/**
 * What a dialect spends reading one bot `media` message: time and bytes allocated per message,
 * medians of several runs, the bytes scan (what ws's Buffers take) next to the full parser
 * (a UTF-8 string, JSON.parse, base64 from a string), measured in the same run, alternating.
 *
 *   node --expose-gc --max-semi-space-size=64 --min-semi-space-size=64 --import tsx \
 *     bench/bot-media-parse.ts [messages=200000]
 *
 * The full parser is reached as it is for any byte array that is not a Buffer, so both cases
 * run the dialect's own `parse` on the same bytes and decode the same audio. A case of several
 * messages sends them in turn: events that differ in more than their payload (a chunk number)
 * are read whole every time, those that differ in the payload alone by the stream's kept shape.
 */
import { ExotelDialect, type StreamDialect, TwilioDialect } from '../src/stream/index.js';
import { AllocationMeter, median } from './lib/alloc-meter.js';

const messages = Number(process.argv[2] ?? 200_000);
const RUNS = 7;
/** Messages per allocation window: a few hundred bytes each fits the young generation. */
const ALLOCATION_COUNT = 2000;

interface Case {
  name: string;
  dialect: StreamDialect;
  /** Sent in turn. */
  messages: Buffer[];
}

function payload(length: number): string {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 37) & 0xff;
  return bytes.toString('base64');
}

const twilio = new TwilioDialect();
const exotel = new ExotelDialect(8000);
const cases: Case[] = [
  {
    name: 'twilio, 20 ms (as bots send it)',
    dialect: twilio,
    messages: [
      Buffer.from(
        `{"event":"media","streamSid":"${twilio.streamSid}","media":{"payload":"${payload(160)}"}}`,
      ),
    ],
  },
  {
    name: 'twilio, 20 ms with track, chunk, timestamp, all alike',
    dialect: twilio,
    messages: [twilioWithChunk(6)],
  },
  {
    name: 'twilio, 20 ms with track, chunk, timestamp, chunk moving on',
    dialect: twilio,
    messages: [twilioWithChunk(6), twilioWithChunk(7)],
  },
  {
    name: 'exotel, 100 ms of 8 kHz L16',
    dialect: exotel,
    messages: [
      Buffer.from(
        `{"event":"media","stream_sid":"${exotel.streamSid}","media":{"payload":"${payload(1600)}"}}`,
      ),
    ],
  },
];

function twilioWithChunk(chunk: number): Buffer {
  return Buffer.from(
    `{"event": "media", "sequenceNumber": "${chunk + 1}", "media": {"track": "outbound", "chunk": "${chunk}", "timestamp": "${chunk * 20}", "payload": "${payload(160)}"}, "streamSid": "${twilio.streamSid}"}`,
  );
}

function timePerMessage(run: (count: number) => void): number {
  run(2000);
  const start = process.hrtime.bigint();
  run(messages);
  return Number(process.hrtime.bigint() - start) / messages;
}

const meter = new AllocationMeter();
console.log(`bot media parse: ${messages} messages per run, ${RUNS} runs alternating; medians\n`);
console.log('| message | bytes | path | ns per message | bytes allocated per message |');
console.log('| --- | --- | --- | --- | --- |');
for (const { name, dialect, messages: buffers } of cases) {
  for (const bytes of buffers)
    if (dialect.parse(bytes, false).kind !== 'audio') throw new Error(`${name}: not read as audio`);
  const paths = [
    { path: 'bytes scan', data: buffers as Uint8Array[] },
    { path: 'full parser', data: buffers.map((bytes) => new Uint8Array(bytes)) },
  ].map((p) => ({ ...p, ns: [] as number[], allocated: [] as number[] }));
  for (let runIndex = 0; runIndex < RUNS; runIndex++) {
    for (const p of runIndex % 2 === 0 ? paths : [...paths].reverse()) {
      const run = (count: number) => {
        const turn = p.data.length;
        for (let i = 0; i < count; i++) dialect.parse(p.data[i % turn] as Uint8Array, false);
      };
      p.ns.push(timePerMessage(run));
      p.allocated.push(await meter.perOperation(run, ALLOCATION_COUNT));
    }
  }
  for (const p of paths)
    console.log(
      `| ${name} | ${(buffers[0] as Buffer).length} | ${p.path} | ${median(p.ns).toFixed(0)} | ${Math.max(0, median(p.allocated)).toFixed(0)} |`,
    );
}

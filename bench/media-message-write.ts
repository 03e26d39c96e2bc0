/**
 * Writing the Twilio `media` message of a caller frame (TwilioDialect.callerMulawFrame: the
 * JSON text around the frame's numbers and base64 payload, into the stream's reused buffer):
 * 200 streams written round-robin, as a media worker's tick writes its calls', with the CPU
 * caches cleared every 50 frames. Only public APIs are used, so a copy of this file in an older
 * tree measures that tree for comparison.
 *
 *   npx tsx bench/media-message-write.ts [rounds=7]
 */
import { TwilioDialect } from '../src/stream/index.js';
import { median } from './lib/alloc-meter.js';

const rounds = Number(process.argv[2] ?? 7);
const STREAMS = 200;
const FRAMES = 3000;
const dialects = Array.from({ length: STREAMS }, (_, c) => {
  const dialect = new TwilioDialect();
  dialect.open({ callSid: `CA${c}`, accountSid: 'AC0', customParameters: {} });
  return dialect;
});
const frame = Uint8Array.from({ length: 160 }, (_, i) => (i * 37) & 0xff);
/** Larger than the caches: written through every 50 frames, so each round starts them cold. */
const evict = new Uint8Array(8 << 20);
let sink = 0;

const perMessage: number[] = [];
for (let round = 0; round < rounds; round++) {
  let spent = 0n;
  for (let f = 0; f < FRAMES; f++) {
    if (f % 50 === 0) for (let i = 0; i < evict.length; i += 64) evict[i] = (evict[i] as number) + 1;
    const start = process.hrtime.bigint();
    for (const dialect of dialects) sink += dialect.callerMulawFrame(frame).length;
    spent += process.hrtime.bigint() - start;
  }
  perMessage.push(Number(spent) / (STREAMS * FRAMES));
}

console.log(
  `media-message-write: Node ${process.version}, ${STREAMS} streams, ${rounds} rounds of ${FRAMES} frames\n`,
);
console.log('| ns per media message (median) | rounds |\n| --- | --- |');
console.log(`| ${median(perMessage).toFixed(0)} | ${perMessage.map((ns) => ns.toFixed(0)).join(', ')} |`);
if (sink === 0) console.log('(no messages written)');

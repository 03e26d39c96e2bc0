/**
 * CPU per case of framing SIP over a TCP/TLS stream (SipStreamParser), as a peer that sends a
 * byte at a time makes it work, next to ordinary traffic, medians of five runs:
 * - a header section trickled in one-byte chunks that never ends, up to the 64 KiB limit;
 * - a message with a 60 KB body in one-byte chunks;
 * - 20,000 small messages pipelined in 1,400-byte chunks (a segment's worth: normal traffic);
 * - how the trickle's cost grows from 2 KiB to 64 KiB (32 times the bytes: about 32 times the
 *   work if framing is linear in the bytes, hundreds if it rescans all it holds per chunk).
 * With a baseline tree (a checkout of another commit, built: `npx tsc` there), its parser is
 * measured in the same process, case by case alternating, for before/after.
 *
 *   npx tsx bench/sip-stream-framing.ts [baseline-tree]
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SipStreamParser } from '../src/sip/index.js';

type ParserClass = typeof SipStreamParser;
const RUNS = 5;

function cpuMs(work: () => void): number {
  const before = process.cpuUsage();
  work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

const ONE_BYTE = Buffer.from('a');
const trickle = (Parser: ParserClass, bytes: number) => () => {
  const parser = new Parser(bytes);
  for (let i = 0; i < bytes; i++) parser.push(ONE_BYTE);
};
const BODY = 'x'.repeat(60_000);
const LARGE = Buffer.from(
  `INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`,
);
const SMALL = Buffer.from(
  'OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n',
);
const PIPELINED = Buffer.concat(Array.from({ length: 400 }, () => SMALL));

const cases: Array<[name: string, work: (Parser: ParserClass) => () => void]> = [
  ['header trickled to the 64 KiB limit, 1-byte chunks', (Parser) => trickle(Parser, 65_536)],
  [
    '60 KB body, 1-byte chunks',
    (Parser) => () => {
      const parser = new Parser();
      for (let i = 0; i < LARGE.length; i++) parser.push(LARGE.subarray(i, i + 1));
    },
  ],
  [
    '20,000 small messages, 1,400-byte chunks',
    (Parser) => () => {
      const parser = new Parser();
      for (let round = 0; round < 50; round++)
        for (let at = 0; at < PIPELINED.length; at += 1400) parser.push(PIPELINED.subarray(at, at + 1400));
    },
  ],
];

const trees: Array<[label: string, Parser: ParserClass]> = [['this tree', SipStreamParser]];
const baselineTree = process.argv[2];
if (baselineTree) {
  const url = pathToFileURL(resolve(baselineTree, 'dist/src/sip/index.js')).href;
  trees.push([
    `baseline ${baselineTree}`,
    ((await import(url)) as { SipStreamParser: ParserClass }).SipStreamParser,
  ]);
}

console.log(`| case | ${trees.map(([label]) => `${label}, CPU ms (median of ${RUNS})`).join(' | ')} |`);
console.log(`| --- | ${trees.map(() => '---').join(' | ')} |`);
for (const [name, work] of cases) {
  const runs = trees.map((): number[] => []);
  for (let run = 0; run < RUNS; run++)
    for (const [index, [, Parser]] of trees.entries()) runs[index]?.push(cpuMs(work(Parser)));
  console.log(`| ${name} | ${runs.map((values) => median(values).toFixed(1)).join(' | ')} |`);
}
const ratios = trees.map(([, Parser]) => {
  const small: number[] = [];
  const large: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    small.push(cpuMs(trickle(Parser, 2048)));
    large.push(cpuMs(trickle(Parser, 65_536)));
  }
  return median(large) / Math.max(median(small), 0.01);
});
console.log(
  `| trickle 64 KiB over 2 KiB (32x the bytes) | ${ratios.map((ratio) => `${ratio.toFixed(0)}x`).join(' | ')} |`,
);

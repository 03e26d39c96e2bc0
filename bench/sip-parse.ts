/**
 * SIP parse and serialize time per message, and bytes allocated per parse, medians of several
 * runs, next to a floor measured in the same run: decoding the same bytes to a string and
 * splitting it into lines, which any parser has to do at least.
 *
 *   node --expose-gc --max-semi-space-size=64 --min-semi-space-size=64 --import tsx \
 *     bench/sip-parse.ts [iterations=20000] [baseline-tree]
 *
 * "parse + read" also reads what the transaction layer and the user agent read for every
 * message (top Via, CSeq, Call-ID, From/To tags, Request-URI). With a baseline tree (a checkout
 * of another commit, e.g. `git worktree add /tmp/sip-base main`), its parser is imported too
 * and measured in the same process, run for run alternating with this tree's.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as current from '../src/sip/index.js';
import { AllocationMeter, median } from './lib/alloc-meter.js';

type Parser = Pick<typeof current, 'parseMessage' | 'serializeMessage'>;
type Message = ReturnType<Parser['parseMessage']>;

const iterations = Number(process.argv[2] ?? 20_000);
const baselineTree = process.argv[3];
const RUNS = 7;
/**
 * Parses per allocation window: at most 1000, fewer for large messages, so a window (~20x the
 * message's bytes per parse before this work) fits the 64 MB young generation.
 */
const allocationCount = (data: Buffer): number => Math.min(1000, Math.round(1_000_000 / data.length));

const crlf = (lines: string[]): Buffer => Buffer.from(lines.join('\r\n'), 'latin1');

const CARRIER_INVITE = crlf([
  'INVITE sip:+15551230000@127.0.0.1:5060 SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---6a8ea5c1c4a6d7d2;rport',
  'Max-Forwards: 70',
  'Contact: <sip:+15559870000@192.0.2.10:5060>',
  'To: <sip:+15551230000@127.0.0.1>',
  'From: "Caller" <sip:+15559870000@192.0.2.10>;tag=4e2f1a7b',
  'Call-ID: 8c3f2e8d6a4b4c1e9f0a7b6c5d4e3f21',
  'CSeq: 1 INVITE',
  'Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE',
  'Content-Type: application/sdp',
  'User-Agent: carrier-sbc/1.0',
  'Supported: replaces, timer',
  'Session-Expires: 1800',
  'P-Asserted-Identity: <sip:+15559870000@192.0.2.10>',
  'Content-Length: 222',
  '',
  'v=0\r\no=- 3911 3911 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0 8 101\r\n' +
    'a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n',
]);
const FLOOD_OFFER =
  'v=0\r\no=- 1 1 IN IP4 127.0.0.21\r\ns=-\r\nc=IN IP4 127.0.0.21\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n';
/** What bench/lib/hostile/invite-flood.ts sends. */
const FLOOD_INVITE = crlf([
  'INVITE sip:+15550100@127.0.0.1:5060 SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.21:40412;branch=z9hG4bK-flood-1234-40412;rport',
  'Max-Forwards: 70',
  'From: <sip:flood@127.0.0.21>;tag=flood-1234-40412',
  'To: <sip:+15550100@127.0.0.1:5060>',
  'Call-ID: flood-1234-40412',
  'CSeq: 1 INVITE',
  'Contact: <sip:flood@127.0.0.21:40412>',
  'Content-Type: application/sdp',
  `Content-Length: ${FLOOD_OFFER.length}`,
  '',
  FLOOD_OFFER,
]);
/** What the carrier's prober in bench/lib/hostile/carrier.ts sends. */
const OPTIONS = crlf([
  'OPTIONS sip:probe@127.0.0.1:5060 SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.30:40011;branch=z9hG4bK-probe-12345678;rport',
  'Max-Forwards: 70',
  'From: <sip:prober@127.0.0.3>;tag=probe-12345678',
  'To: <sip:probe@127.0.0.1:5060>',
  'Call-ID: probe-12345678@127.0.0.3',
  'CSeq: 1 OPTIONS',
  'Content-Length: 0',
  '',
  '',
]);
const OK = crlf([
  'SIP/2.0 200 OK',
  'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa1b2c3d4e5f6;rport=5060',
  'From: <sip:patchbay@127.0.0.1>;tag=aa11bb22',
  'To: <sip:service@127.0.0.1:5062>;tag=cc33dd44',
  'Call-ID: 0f1e2d3c4b5a69788796a5b4c3d2e1f0@127.0.0.1',
  'CSeq: 2 BYE',
  'Content-Length: 0',
  '',
  '',
]);
// Run from the repository root.
const torture = join(process.cwd(), 'fixtures/sip/rfc4475/valid');
const messages: Array<[string, Buffer]> = [
  ['carrier INVITE with SDP', CARRIER_INVITE],
  ['flood INVITE with SDP', FLOOD_INVITE],
  ['OPTIONS probe', OPTIONS],
  ['200 OK to BYE', OK],
  ['RFC 4475 longreq (large headers)', readFileSync(join(torture, 'longreq.dat'))],
];

function readCore(message: Message): void {
  message.topVia();
  message.cseq();
  message.callId();
  message.fromTag();
  message.toTag();
  if (message.isRequest) message.requestUri();
}

const trees: Array<[string, Parser]> = [['this tree', current]];
if (baselineTree !== undefined) {
  const url = pathToFileURL(resolve(baselineTree, 'src/sip/index.ts')).href;
  trees.unshift(['baseline', (await import(url)) as Parser]);
}

/** Median ns per call of each operation, the operations' runs alternating. */
function nsPerOp(operations: Array<() => void>): number[] {
  const timings = operations.map(() => [] as number[]);
  for (let run = 0; run < RUNS; run++) {
    for (const [index, operation] of operations.entries()) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < iterations; i++) operation();
      timings[index]?.push(Number(process.hrtime.bigint() - started) / iterations);
    }
  }
  return timings.map(median);
}

const meter = new AllocationMeter();

/** Median bytes allocated per call of each operation, the operations' runs alternating. */
async function bytesPerOp(operations: Array<() => void>, count: number): Promise<number[]> {
  const figures = operations.map(() => [] as number[]);
  for (let run = 0; run < RUNS; run++) {
    for (const [index, operation] of operations.entries()) {
      const bytes = await meter.perOperation((count) => {
        for (let i = 0; i < count; i++) operation();
      }, count);
      figures[index]?.push(bytes);
    }
  }
  return figures.map(median);
}

const ns = (value: number | undefined) => (value ?? Number.NaN).toFixed(0);

console.log(
  `sip-parse: Node ${process.version}, ${iterations} iterations x ${RUNS} runs (time), ` +
    `up to 1000 parses x ${RUNS} runs (bytes), medians\n`,
);
console.log(
  '| message | bytes | tree | floor: toString+split ns | parse ns | parse + read ns | serialize ns | ' +
    'parse B | parse + read B |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const [label, data] of messages) {
  const parsers = trees.map(([, parser]) => parser);
  const [floor] = nsPerOp([() => data.toString('utf8').split('\r\n')]);
  const parse = nsPerOp(parsers.map((parser) => () => parser.parseMessage(data)));
  const parseRead = nsPerOp(parsers.map((parser) => () => readCore(parser.parseMessage(data))));
  const serialize = nsPerOp(
    parsers.map((parser) => {
      const parsed = parser.parseMessage(data);
      return () => parser.serializeMessage(parsed);
    }),
  );
  const count = allocationCount(data);
  const parseBytes = await bytesPerOp(
    parsers.map((parser) => () => parser.parseMessage(data)),
    count,
  );
  const parseReadBytes = await bytesPerOp(
    parsers.map((parser) => () => readCore(parser.parseMessage(data))),
    count,
  );
  for (const [index, [tree]] of trees.entries()) {
    console.log(
      `| ${label} | ${data.length} | ${tree} | ${ns(floor)} | ${ns(parse[index])} | ${ns(parseRead[index])} | ` +
        `${ns(serialize[index])} | ${ns(parseBytes[index])} | ${ns(parseReadBytes[index])} |`,
    );
  }
}

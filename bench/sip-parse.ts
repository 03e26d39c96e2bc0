/**
 * SIP parse and serialize time per message, median of 7 runs, next to a floor measured in
 * the same run: decoding the same bytes to a string and splitting it into lines, which any
 * parser has to do at least.
 *
 *   npx tsx bench/sip-parse.ts [iterations=20000]
 *
 * "parse + read" also reads what the transaction layer and the user agent read for every
 * message (top Via, CSeq, Call-ID, From/To tags, Request-URI).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMessage, type SipMessage, serializeMessage } from '../src/sip/index.js';

const iterations = Number(process.argv[2] ?? 20_000);
const RUNS = 7;

const INVITE = Buffer.from(
  [
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
  ].join('\r\n'),
);
const OK = Buffer.from(
  [
    'SIP/2.0 200 OK',
    'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa1b2c3d4e5f6;rport=5060',
    'From: <sip:patchbay@127.0.0.1>;tag=aa11bb22',
    'To: <sip:service@127.0.0.1:5062>;tag=cc33dd44',
    'Call-ID: 0f1e2d3c4b5a69788796a5b4c3d2e1f0@127.0.0.1',
    'CSeq: 2 BYE',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n'),
);
// Run from the repository root.
const torture = join(process.cwd(), 'fixtures/sip/rfc4475/valid');
const messages: Array<[string, Buffer]> = [
  ['carrier INVITE with SDP', INVITE],
  ['200 OK to BYE', OK],
  ['RFC 4475 longreq (large headers)', readFileSync(join(torture, 'longreq.dat'))],
];

function readCore(message: SipMessage): void {
  message.topVia();
  message.cseq();
  message.callId();
  message.fromTag();
  message.toTag();
  if (message.isRequest) message.requestUri();
}

function nsPerOp(operation: () => void): number {
  const timings: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) operation();
    timings.push(Number(process.hrtime.bigint() - started) / iterations);
  }
  timings.sort((a, b) => a - b);
  return timings[RUNS >> 1] ?? Number.NaN;
}

console.log(`${iterations} iterations x ${RUNS} runs, median ns per message\n`);
console.log(
  '| message | bytes | floor: toString+split | parse | parse + read | serialize | parse+read / floor |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const [label, data] of messages) {
  const floor = nsPerOp(() => data.toString('utf8').split('\r\n'));
  const parse = nsPerOp(() => parseMessage(data));
  const parseRead = nsPerOp(() => readCore(parseMessage(data)));
  const parsed = parseMessage(data);
  const serialize = nsPerOp(() => serializeMessage(parsed));
  console.log(
    `| ${label} | ${data.length} | ${floor.toFixed(0)} | ${parse.toFixed(0)} | ${parseRead.toFixed(0)} | ` +
      `${serialize.toFixed(0)} | ${(parseRead / floor).toFixed(1)}x |`,
  );
}

/**
 * What stamping `received` and `rport` on a request's top Via costs (RFC 3581 §4, done by the
 * transport for every request from a peer that asks for rport or sends from another address),
 * parse included, then the top Via read again as the transaction layer does: the old way
 * (every Via value split and the list replaced, so the Vias were parsed again) kept here as the
 * reference, against `writeBackTopVia` (the top line rewritten, the parsed list kept). One
 * process, alternating, medians of 7 rounds.
 *
 *   npx tsx bench/sip-via-stamp.ts [requests per round, default 100000]
 */
import { parseMessage, type SipRequest } from '../src/sip/index.js';
import { serializeVia } from '../src/sip/uri.js';

const INVITE = Buffer.from(
  [
    'INVITE sip:gw@127.0.0.1 SIP/2.0',
    'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport',
    'Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK0',
    'Max-Forwards: 70',
    'From: <sip:a@example.com>;tag=1',
    'To: <sip:gw@127.0.0.1>',
    'Call-ID: stamp@bench',
    'CSeq: 1 INVITE',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n'),
);

function stampParams(request: SipRequest): void {
  const top = request.topVia();
  if (!top) throw new Error('no Via');
  top.params.set('received', '127.0.0.2');
  top.params.set('rport', '5099');
}

const WAYS: Record<string, (request: SipRequest) => void> = {
  'parse only': () => undefined,
  'list replaced (reference)': (request) => {
    stampParams(request);
    const top = request.topVia() as NonNullable<ReturnType<SipRequest['topVia']>>;
    request.setList('via', [serializeVia(top), ...request.listValues('via').slice(1)]);
    request.topVia();
  },
  writeBackTopVia: (request) => {
    stampParams(request);
    request.writeBackTopVia();
    request.topVia();
  },
};

const requests = Number(process.argv[2] ?? 100_000);
const samples = new Map<string, number[]>(Object.keys(WAYS).map((name) => [name, []]));
for (let round = 0; round < 7; round++) {
  for (const [name, way] of Object.entries(WAYS)) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < requests; i++) way(parseMessage(INVITE) as SipRequest);
    samples.get(name)?.push(Number(process.hrtime.bigint() - started) / requests);
  }
}
console.log('| way | ns per request, median of 7 |\n| --- | --- |');
for (const [name, values] of samples) {
  const sorted = [...values].sort((a, b) => a - b);
  console.log(`| ${name} | ${(sorted[3] ?? 0).toFixed(0)} |`);
}

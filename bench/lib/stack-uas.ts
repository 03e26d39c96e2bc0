/**
 * A patchbay UAS in its own process for bench/sip-cps.ts: the SIP stack's user agent on
 * 127.0.0.1:PORT/udp answering every INVITE 200 with SDP. Prints "ready" once listening.
 *
 *   node [loader] bench/lib/stack-uas.ts PORT
 */
import { SipTransport, SipUserAgent } from '../../src/sip/index.js';
import { SystemClock, silentLogger } from '../../src/util/index.js';

const SDP =
  'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
const port = Number(process.argv[2]);
const transport = new SipTransport({
  listen: [{ transport: 'udp', address: '127.0.0.1', port }],
  logger: silentLogger,
});
await transport.start();
const ua = new SipUserAgent({
  transport,
  clock: new SystemClock(),
  logger: silentLogger,
  onInvite: (session) => session.accept(SDP),
  // SIPp offers every call from one address, as the balancer in front of a node does: each call
  // keeps two transactions for 64*T1, so 2000 CPS holds ~128,000; the operator gives that address
  // room (`sip.transactionMemory`), where the defaults bound a single carrier or flooder.
  transactionMemory: { maxBytesPerSource: 1 << 30, maxBytes: 1 << 30 },
});
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  ua.close();
  void transport.close().then(() => process.exit(0));
});

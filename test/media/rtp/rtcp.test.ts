import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildCompoundRtcp,
  ntpMiddle32,
  parseCompoundRtcp,
  wallMsToNtp,
} from '../../../src/media/rtp/rtcp.js';

test('wall clock to NTP (RFC 3550 §4) and the middle 32 bits used by LSR', () => {
  assert.deepEqual(wallMsToNtp(0), { seconds: 2_208_988_800, fraction: 0 });
  const ntp = wallMsToNtp(1500);
  assert.deepEqual(ntp, { seconds: 2_208_988_801, fraction: 0x80000000 });
  assert.equal(ntpMiddle32(ntp), ((2_208_988_801 & 0xffff) << 16) | 0x8000);
});

test('a built compound packet parses back: SR with a report block about the peer, then BYE', () => {
  const bytes = buildCompoundRtcp({
    ssrc: 0x11111111,
    cname: 'me',
    sender: { ntp: wallMsToNtp(1000), rtpTimestamp: 160, packetCount: 3, octetCount: 480 },
    reportBlock: {
      ssrc: 0x22222222,
      fractionLost: 64,
      cumulativeLost: 7,
      extendedHighestSequence: 70000,
      jitter: 12,
      lastSr: 0xabcd1234,
      delaySinceLastSr: 65536,
    },
    bye: true,
  });
  const parsed = parseCompoundRtcp(
    new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    0x22222222,
  );
  assert.equal(parsed.senderReport?.ssrc, 0x11111111);
  assert.deepEqual(parsed.senderReport?.ntp, wallMsToNtp(1000));
  assert.equal(parsed.aboutUs?.getFractionLost(), 64);
  assert.equal(parsed.aboutUs?.getTotalLost(), 7);
  assert.equal(parsed.aboutUs?.getHighestSeqNumber(), 70000);
  assert.equal(parsed.aboutUs?.getJitter(), 12);
  assert.equal(parsed.aboutUs?.getLastSRTimestamp(), 0xabcd1234);
  assert.equal(parsed.aboutUs?.getDelaySinceLastSR(), 65536);
  assert.deepEqual(parsed.byeSsrcs, [0x11111111]);
  // A receiver-only report without a block is an RR.
  const rr = buildCompoundRtcp({ ssrc: 5, cname: 'x', sender: undefined, reportBlock: undefined });
  assert.equal(rr[1], 201);
});

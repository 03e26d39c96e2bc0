import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildCompoundRtcp,
  ntpMiddle32,
  parseCompoundRtcp,
  wallMsToNtp,
} from '../../../src/media/rtp/rtcp.js';
import { receiverReportLosing } from './rtcp-helpers.js';

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
  assert.equal(parsed.aboutUs?.fractionLost, 64);
  assert.equal(parsed.aboutUs?.cumulativeLost, 7);
  assert.equal(parsed.aboutUs?.extendedHighestSequence, 70000);
  assert.equal(parsed.aboutUs?.jitter, 12);
  assert.equal(parsed.aboutUs?.lastSr, 0xabcd1234);
  assert.equal(parsed.aboutUs?.delaySinceLastSr, 65536);
  assert.deepEqual(parsed.byeSsrcs, [0x11111111]);
  // A receiver-only report without a block is an RR.
  const rr = buildCompoundRtcp({ ssrc: 5, cname: 'x', sender: undefined, reportBlock: undefined });
  assert.equal(rr[1], 201);
});

/** The cumulative-loss field of the first report block of an RR (RFC 3550 §6.4.1: bytes 5-7 of the block). */
function cumulativeLostField(rr: Uint8Array): number {
  const at = 8 + 5;
  return ((rr[at]! << 16) | (rr[at + 1]! << 8) | rr[at + 2]!) >>> 0;
}

test("cumulative loss is a signed 24-bit two's complement field, clamped (RFC 3550 §6.4.1, A.3)", () => {
  const cases: Array<[lost: number, field: number]> = [
    [5000, 0x001388],
    [0x7fffff, 0x7fffff],
    [9_000_000, 0x7fffff],
    [-1, 0xffffff],
    [-3, 0xfffffd],
    [-0x800000, 0x800000],
    [-9_000_000, 0x800000],
  ];
  for (const [lost, field] of cases) {
    const rr = receiverReportLosing(lost);
    assert.equal(cumulativeLostField(rr).toString(16), field.toString(16), `written ${lost}`);
    const parsed = parseCompoundRtcp(new DataView(rr.buffer, rr.byteOffset, rr.byteLength), 2);
    assert.equal(
      parsed.aboutUs?.cumulativeLost,
      Math.max(-0x800000, Math.min(0x7fffff, lost)),
      `read ${lost}`,
    );
  }
});

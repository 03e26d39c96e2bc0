/**
 * A call's stream position rides in a worker report's numbers and is read back as it was
 * written, every SRTP part of it included, and absent parts absent.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FIGURES_PER_LEG, readPosition, writePosition } from '../../../src/gateway/worker/protocol.js';
import type { RtpPosition } from '../../../src/media/index.js';

function roundTrip(position: RtpPosition): RtpPosition {
  const figures = new Float64Array(3 * FIGURES_PER_LEG).fill(-1);
  writePosition(figures, FIGURES_PER_LEG, position);
  return readPosition(figures, FIGURES_PER_LEG);
}

test('a plain position, and SRTP positions with and without what the far end sent', () => {
  const plain = { ssrc: 0xfeedf00d, sequenceNumber: 65_535, timestamp: 0xffff_fff0 };
  assert.deepEqual(roundTrip(plain), plain);
  const sending = { ...plain, srtp: { rolloverCount: 3, srtcpIndex: 2 ** 31 - 1 } };
  assert.deepEqual(roundTrip(sending), sending);
  const received = { ssrc: 9, rolloverCount: 1, highestSeq: 77 };
  const withRtp = { ...plain, srtp: { rolloverCount: 3, srtcpIndex: 12, received } };
  assert.deepEqual(roundTrip(withRtp), withRtp);
  const withRtcp = {
    ...plain,
    srtp: { rolloverCount: 3, srtcpIndex: 12, received: { ...received, srtcpIndex: 0 } },
  };
  assert.deepEqual(roundTrip(withRtcp), withRtcp);
});

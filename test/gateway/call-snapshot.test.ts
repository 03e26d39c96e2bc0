/**
 * Call snapshots: what an answered call writes is what another node reads back (dialog, SDPs,
 * bot target without credentials); damaged ones are refused; SRTP calls are not snapshotted;
 * the RTP position moves on with the time since it was read, never backwards.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { continuedPosition, parseSnapshot, positionOf, snapshotOf } from '../../src/gateway/call-snapshot.js';
import { SDP, view } from './helpers/takeover-view.js';

test('a snapshot read back is what was written, without the bot credentials', () => {
  const text = snapshotOf(view(), 'node-a');
  assert.ok(text);
  assert.doesNotMatch(text, /secret-token/);
  const parsed = parseSnapshot(text, positionOf(view().leg, 5000));
  assert.ok(parsed.ok);
  assert.equal(parsed.snapshot.node, 'node-a');
  assert.equal(parsed.snapshot.call.id, 'sid-1');
  assert.equal(parsed.snapshot.dialog.callId, 'call-1@127.0.0.1');
  assert.equal(parsed.snapshot.dialog.remoteSeq, 7);
  assert.deepEqual(parsed.snapshot.dialog.routeSet, ['<sip:127.0.0.1:5060;lr>']);
  assert.equal(parsed.snapshot.target.customParameters['tenant'], 't1');
  assert.equal(parsed.position.sequenceNumber, 65_530);
});

test('an SRTP call is not snapshotted; damaged snapshots are refused', () => {
  assert.equal(snapshotOf(view(`${SDP}a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n`), 'a'), undefined);
  const text = snapshotOf(view(), 'a') as string;
  const position = positionOf(view().leg, 0);
  assert.deepEqual(parseSnapshot('{', position), { ok: false, reason: 'malformed snapshot' });
  assert.equal(parseSnapshot(text.replace('"v":1', '"v":2'), position).ok, false);
  assert.equal(parseSnapshot(text, '{"ssrc":-1}').ok, false);
});

test('the continued RTP position moves on with the wall clock and wraps', () => {
  const position = { ssrc: 7, sequenceNumber: 65_530, timestamp: 0xffff_ff00, atWall: 10_000 };
  const later = continuedPosition(position, 11_000, 8000, 20);
  assert.equal(later.ssrc, 7);
  // 1 s = 50 frames (+5 margin), wrapping past 65535; 8000 samples, wrapping past 2^32.
  assert.equal(later.sequenceNumber, (65_530 + 55) & 0xffff);
  assert.equal(later.timestamp, (0xffff_ff00 + 8000) >>> 0);
  const clockWentBack = continuedPosition(position, 9_000, 8000, 20);
  assert.equal(clockWentBack.timestamp, position.timestamp);
});

/**
 * Call snapshots: what an answered call writes is what another node reads back (dialog, SDPs,
 * bot target without credentials, its URL without user info or query, rebuilt from the
 * resuming node's config); damaged ones are refused; SRTP calls are snapshotted only with the
 * cluster's snapshot secret, their SDPs sealed, and an SRTP option not taken (RFC 5939
 * capabilities) leaves no key in either SDP; the RTP position moves on with the time since it
 * was read, never backwards, its SRTP rollover counter with it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PatchbayConfig } from '../../src/config/index.js';
import { configuredTarget } from '../../src/gateway/bot-connector.js';
import { continuedPosition, parseSnapshot, positionOf, snapshotOf } from '../../src/gateway/call-snapshot.js';
import { SnapshotSeal } from '../../src/gateway/snapshot-seal.js';
import { SDP, TARGET, view } from './helpers/takeover-view.js';

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

test('an SRTP call is not snapshotted without a seal; damaged snapshots are refused', () => {
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

const KEY = 'WVNfX19zZWNyZXRfX19zcnRwX19rZXlfX19oZXJlIQ';
const OPTIONAL_SRTP = `${SDP}a=tcap:1 RTP/SAVP\r\na=acap:1 crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}\r\na=pcfg:1 t=1 a=1\r\n`;

test('an SRTP option not taken leaves no key in either SDP; a key in use stops the snapshot', () => {
  const text = snapshotOf(view(OPTIONAL_SRTP, OPTIONAL_SRTP), 'a');
  assert.ok(text, 'a plain RTP call offered SRTP as an option is snapshotted');
  assert.doesNotMatch(text, /inline:|acap|pcfg|tcap/);
  const parsed = parseSnapshot(text, positionOf(view().leg, 0));
  assert.ok(parsed.ok);
  assert.equal(parsed.snapshot.sdp.remote, SDP);
  assert.equal(parsed.snapshot.sdp.local, SDP);
  const keyed = `${SDP}a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}\r\n`;
  assert.equal(snapshotOf(view(SDP, keyed), 'a'), undefined, 'our own key in use');
});

test('a bot URL’s user info and query never reach the snapshot; the resuming node restores them from its config', () => {
  const url = 'wss://user:pass@bot.example/stream?token=url-secret';
  const text = snapshotOf(view(SDP, SDP, { ...TARGET, url }), 'a');
  assert.ok(text);
  assert.doesNotMatch(text, /url-secret|pass|secret-token/);
  const parsed = parseSnapshot(text, positionOf(view().leg, 0));
  assert.ok(parsed.ok);
  const { urlHidden, ...shown } = parsed.snapshot.target;
  assert.deepEqual({ url: shown.url, urlHidden }, { url: 'wss://bot.example/stream', urlHidden: true });
  const config = (urls: string[]) =>
    ({
      gateway: {
        routes: urls.map((target, i) => ({
          match: i === 0 ? '*' : `+${i}`,
          target: { ...TARGET, url: target },
        })),
      },
      trunks: new Map(),
    }) as unknown as PatchbayConfig;
  const restored = configuredTarget(config([url]), shown, true, '*');
  assert.equal(restored?.url, url);
  assert.deepEqual(restored?.auth, TARGET.auth, 'the route’s credentials');
  const other = 'wss://bot.example/stream?token=other';
  assert.equal(
    configuredTarget(config([other, url]), shown, true, '+1')?.url,
    url,
    'the call’s route’s, of several',
  );
  assert.equal(configuredTarget(config(['wss://elsewhere/stream']), shown, true, '*'), undefined);
  assert.equal(
    configuredTarget(config([]), parseTarget(), false, '*')?.url,
    TARGET.url,
    'a URL with nothing hidden',
  );
});

function parseTarget() {
  const parsed = parseSnapshot(snapshotOf(view(), 'a') as string, positionOf(view().leg, 0));
  assert.ok(parsed.ok);
  return parsed.snapshot.target;
}

const SEAL = new SnapshotSeal('the cluster secret, 32 characters or more');
const KEYED = `${SDP.replace('RTP/AVP', 'RTP/SAVP')}a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}\r\n`;
const SRTP_POSITION = JSON.stringify({
  ssrc: 7,
  sequenceNumber: 65_530,
  timestamp: 0,
  srtp: {
    rolloverCount: 2,
    srtcpIndex: 40,
    received: { ssrc: 9, rolloverCount: 1, highestSeq: 77, srtcpIndex: 6 },
  },
  atWall: 0,
});

test("an SRTP call's SDPs go sealed: no key in the snapshot, and only the same secret opens them", () => {
  const text = snapshotOf(view(KEYED, KEYED), 'a', SEAL);
  assert.ok(text, 'snapshotted with a seal');
  assert.doesNotMatch(text, /inline|crypto|SAVP/);
  assert.doesNotMatch(text, new RegExp(KEY.slice(0, 12)));
  const parsed = parseSnapshot(
    text,
    SRTP_POSITION,
    new SnapshotSeal('the cluster secret, 32 characters or more'),
  );
  assert.ok(parsed.ok);
  assert.equal(parsed.snapshot.sdp.remote, KEYED);
  assert.equal(parsed.snapshot.sdp.local, KEYED);
  assert.deepEqual(parsed.position.srtp?.received, {
    ssrc: 9,
    rolloverCount: 1,
    highestSeq: 77,
    srtcpIndex: 6,
  });
  assert.deepEqual(parseSnapshot(text, SRTP_POSITION), {
    ok: false,
    reason: 'an SRTP call, and no cluster.takeover.snapshotSecret here',
  });
  const other = parseSnapshot(
    text,
    SRTP_POSITION,
    new SnapshotSeal('another secret, also 32 characters long'),
  );
  assert.equal(other.ok, false);
  const withoutRoc = parseSnapshot(text, positionOf(view().leg, 0), SEAL);
  assert.deepEqual(withoutRoc, { ok: false, reason: 'an SRTP call without its SRTP position' });
  assert.equal(snapshotOf(view(KEYED, KEYED), 'a', SEAL), text, 'an unchanged call seals to the same text');
});

test("a plain call's snapshot is not sealed, seal or not", () => {
  assert.equal(snapshotOf(view(), 'a', SEAL), snapshotOf(view(), 'a'));
});

test('the continued SRTP position: the rollover counter moves with a wrap, the SRTCP index past what the dead node sent', () => {
  const position = {
    ssrc: 7,
    sequenceNumber: 65_530,
    timestamp: 0,
    srtp: { rolloverCount: 2, srtcpIndex: 40, received: { ssrc: 9, rolloverCount: 1, highestSeq: 77 } },
    atWall: 10_000,
  };
  const later = continuedPosition(position, 15_000, 8000, 20);
  // 5 s = 250 frames (+5 margin) past 65530: wrapped once.
  assert.equal(later.sequenceNumber, (65_530 + 255) & 0xffff);
  assert.equal(later.srtp?.rolloverCount, 3);
  // At most one report per 2.5 s since (2), and a margin of 4.
  assert.equal(later.srtp?.srtcpIndex, 46);
  assert.deepEqual(later.srtp?.received, position.srtp.received, "the far end's state as last seen");
  const notWrapped = continuedPosition({ ...position, sequenceNumber: 100 }, 11_000, 8000, 20);
  assert.equal(notWrapped.srtp?.rolloverCount, 2);
});

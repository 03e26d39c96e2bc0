/**
 * Call snapshots: what an answered call writes is what another node reads back (dialog, SDPs,
 * bot target without credentials, its URL without user info or query, rebuilt from the
 * resuming node's config); damaged ones are refused; SRTP calls are not snapshotted, and an
 * SRTP option not taken (RFC 5939 capabilities) leaves no key in either SDP;
 * the RTP position moves on with the time since it was read, never backwards.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PatchbayConfig } from '../../src/config/index.js';
import { configuredTarget } from '../../src/gateway/bot-connector.js';
import { continuedPosition, parseSnapshot, positionOf, snapshotOf } from '../../src/gateway/call-snapshot.js';
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

/**
 * Sealing an SRTP call's snapshot SDPs under the cluster's shared secret: what one node seals
 * another with the same secret opens; nothing opens with another secret, for another call, or
 * after a change; the same text seals to the same bytes (an unchanged snapshot is not written
 * again) and no key is readable in them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SnapshotSeal } from '../../src/gateway/snapshot-seal.js';

const SECRET = 'a shared secret of at least 32 characters, really';
const KEY = 'WVNfX19zZWNyZXRfX19zcnRwX19rZXlfX19oZXJlIQ';
const TEXT = JSON.stringify({ local: `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}` });

test('what one node seals, another with the same secret opens', () => {
  const sealed = new SnapshotSeal(SECRET).seal(TEXT, 'call-1');
  assert.equal(new SnapshotSeal(SECRET).open(sealed, 'call-1'), TEXT);
  assert.doesNotMatch(sealed, new RegExp(KEY.slice(0, 12)));
  assert.doesNotMatch(Buffer.from(sealed, 'base64').toString('latin1'), /inline|crypto/);
});

test('another secret, another call or a changed byte opens nothing', () => {
  const seal = new SnapshotSeal(SECRET);
  const sealed = seal.seal(TEXT, 'call-1');
  assert.equal(new SnapshotSeal(`${SECRET}!`).open(sealed, 'call-1'), undefined);
  assert.equal(seal.open(sealed, 'call-2'), undefined, "one call's keys are not another's");
  const bytes = Buffer.from(sealed, 'base64');
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
  assert.equal(seal.open(bytes.toString('base64'), 'call-1'), undefined);
  assert.equal(seal.open('', 'call-1'), undefined);
  assert.equal(seal.open('not base64 at all', 'call-1'), undefined);
});

test('the same text seals to the same bytes; another text or call to others', () => {
  const seal = new SnapshotSeal(SECRET);
  assert.equal(seal.seal(TEXT, 'call-1'), seal.seal(TEXT, 'call-1'));
  assert.notEqual(seal.seal(TEXT, 'call-1'), seal.seal(`${TEXT} `, 'call-1'));
  assert.notEqual(seal.seal(TEXT, 'call-1'), seal.seal(TEXT, 'call-2'));
});

test('a rotation: the new secret seals; what the old one sealed still opens while it is listed', () => {
  const OLD = 'the secret before the rotation, 32+ characters';
  const sealedBefore = new SnapshotSeal(OLD).seal(TEXT, 'call-1');
  const rotating = new SnapshotSeal(SECRET, [OLD]);
  assert.equal(rotating.open(sealedBefore, 'call-1'), TEXT, 'the old seal opens');
  const sealedAfter = rotating.seal(TEXT, 'call-1');
  assert.equal(new SnapshotSeal(SECRET).open(sealedAfter, 'call-1'), TEXT, 'sealed with the new secret');
  assert.equal(new SnapshotSeal(OLD).open(sealedAfter, 'call-1'), undefined);
  assert.equal(new SnapshotSeal(SECRET).open(sealedBefore, 'call-1'), undefined, 'dropped: no longer opens');
});

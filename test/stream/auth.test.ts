import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signRequest, verifySignature } from '../../src/stream/index.js';

const url = 'wss://bot.example.com/stream?call=CA1';

test('signRequest is base64 HMAC-SHA256 of the URL followed by the body (vectors from openssl dgst)', () => {
  // printf '%s' "$url$body" | openssl dgst -sha256 -hmac s3cret -binary | base64
  assert.equal(signRequest('s3cret', url, '{"a":1}'), 'kx7miHw878l+PEYHZ1cqZ+dkcpxeniIyfH7yTO5nDR8=');
  assert.equal(
    signRequest('s3cret', 'wss://bot.example.com/stream'),
    'JE0FYktxq4EQLSmbAKwYF3arZP5lLh7tl9be2kinTyE=',
  );
});

test('verifySignature accepts the signature and rejects any change of secret, URL, body or signature', () => {
  const signature = signRequest('s3cret', url, 'body');
  assert.equal(verifySignature('s3cret', url, 'body', signature), true);
  assert.equal(verifySignature('other', url, 'body', signature), false);
  assert.equal(verifySignature('s3cret', `${url}&x=1`, 'body', signature), false);
  assert.equal(verifySignature('s3cret', url, 'body!', signature), false);
  const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
  assert.equal(verifySignature('s3cret', url, 'body', flipped), false);
});

test('verifySignature returns false, never throws, for signatures of the wrong length or garbage', () => {
  assert.equal(verifySignature('s3cret', url, '', ''), false);
  assert.equal(verifySignature('s3cret', url, '', 'short'), false);
  assert.equal(verifySignature('s3cret', url, '', 'x'.repeat(500)), false);
  assert.equal(verifySignature('s3cret', url, '', '\u00e9'.repeat(22)), false);
});

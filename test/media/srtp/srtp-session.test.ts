/**
 * SRTP behaviour between two sessions keyed as SDES keys them (each side sends with its own
 * key): round trips, forged and replayed packets, the rollover counter across 65535 → 0
 * (RFC 3711 §3.3.1, Appendix A), SRTCP, key lifetime and re-keying.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import { REPLAY_WINDOW, type SrtpKeying, SrtpSession } from '../../../src/media/srtp/index.js';
import { SecretBytes, SRTP_SUITES, type SrtpSuiteName, srtpMasterBytes } from '../../../src/util/index.js';

const SSRC = 0x11223344;

function pair(suite: SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80', receiveLifetime?: number) {
  const a = new SecretBytes(randomBytes(srtpMasterBytes(suite)));
  const b = new SecretBytes(randomBytes(srtpMasterBytes(suite)));
  const keying = (send: SecretBytes, receive: SecretBytes): SrtpKeying => ({
    suite,
    sendKey: send,
    receiveKey: receive,
    ...(receiveLifetime === undefined ? {} : { receiveLifetime }),
  });
  return { sender: new SrtpSession(keying(a, b)), receiver: new SrtpSession(keying(b, a)), a, b, keying };
}

/** An RTP packet: 12-byte header (optionally CSRCs and an extension) and a payload derived from seq. */
function rtp(
  seq: number,
  options: { csrcs?: number; extensionWords?: number; payload?: number } = {},
): Buffer {
  const csrcs = options.csrcs ?? 0;
  const extension = options.extensionWords === undefined ? 0 : 4 + 4 * options.extensionWords;
  const header = Buffer.alloc(12 + 4 * csrcs + extension);
  header[0] = 0x80 | (extension ? 0x10 : 0) | csrcs;
  header.writeUInt16BE(seq, 2);
  header.writeUInt32BE(seq * 160, 4);
  header.writeUInt32BE(SSRC, 8);
  if (extension) header.writeUInt16BE(options.extensionWords ?? 0, 12 + 4 * csrcs + 2);
  const payload = Buffer.alloc(options.payload ?? 160, seq & 0xff);
  return Buffer.concat([header, payload]);
}

const rtcp = (fill: number) =>
  Buffer.concat([Buffer.from('81c8000b', 'hex'), Buffer.alloc(4, 7), Buffer.alloc(40, fill)]);

describe('SRTP round trips', () => {
  for (const suite of SRTP_SUITES) {
    test(`${suite}: payload encrypted, header clear, decrypted back`, () => {
      const { sender, receiver } = pair(suite);
      const plain = rtp(1000);
      const wire = sender.protectRtp(plain);
      assert.equal(
        wire.length,
        plain.length + (suite.startsWith('AEAD_') ? 16 : suite.endsWith('80') ? 10 : 4),
      );
      assert.deepEqual(wire.subarray(0, 12), plain.subarray(0, 12), 'header in the clear');
      assert.notDeepEqual(wire.subarray(12, plain.length), plain.subarray(12), 'payload encrypted');
      assert.deepEqual(receiver.unprotectRtp(wire), plain);
    });
  }

  test('CSRCs and a header extension stay in the clear and authenticated', () => {
    const { sender, receiver } = pair();
    const plain = rtp(7, { csrcs: 2, extensionWords: 3, payload: 33 });
    const wire = sender.protectRtp(plain);
    assert.deepEqual(wire.subarray(0, 12 + 8 + 16), plain.subarray(0, 12 + 8 + 16));
    assert.deepEqual(receiver.unprotectRtp(wire), plain);
  });

  test('a reversed key pair does not authenticate', () => {
    const { sender, b } = pair();
    // The sender protects with key a; a receiver expecting its own key b cannot authenticate.
    const wrong = new SrtpSession({ suite: 'AES_CM_128_HMAC_SHA1_80', sendKey: b, receiveKey: b });
    assert.equal(wrong.unprotectRtp(sender.protectRtp(rtp(1))), 'auth');
  });

  test('packets too short for their header and tag are malformed', () => {
    const { receiver } = pair();
    assert.equal(receiver.unprotectRtp(Buffer.alloc(20, 0x80)), 'malformed');
    const truncatedExtension = rtp(1, { extensionWords: 40, payload: 0 });
    assert.equal(receiver.unprotectRtp(truncatedExtension.subarray(0, 30)), 'malformed');
  });
});

describe('authentication and replay', () => {
  test('any flipped bit (header, payload or tag) fails authentication; the original still passes', () => {
    const { sender, receiver } = pair();
    const wire = sender.protectRtp(rtp(42));
    for (const at of [1, 3, 9, 20, wire.length - 1]) {
      const tampered = Buffer.from(wire);
      tampered[at] = (tampered[at] as number) ^ 0x01;
      assert.equal(receiver.unprotectRtp(tampered), 'auth', `bit flipped at ${at}`);
    }
    assert.ok(Buffer.isBuffer(receiver.unprotectRtp(Buffer.from(wire))));
  });

  test('a packet seen before is a replay; reordering inside the window is not', () => {
    const { sender, receiver } = pair();
    const wires = Array.from({ length: 10 }, (_, i) => sender.protectRtp(rtp(100 + i)));
    const copies = wires.map((wire) => Buffer.from(wire));
    for (const i of [0, 2, 1, 5, 3, 4, 9, 8, 7, 6])
      assert.ok(Buffer.isBuffer(receiver.unprotectRtp(wires[i] as Buffer)));
    for (const copy of copies) assert.equal(receiver.unprotectRtp(copy), 'replay');
  });

  test(`a packet older than the ${REPLAY_WINDOW}-packet window is refused unseen`, () => {
    const { sender, receiver } = pair();
    const old = sender.protectRtp(rtp(10));
    for (let seq = 11; seq <= 11 + REPLAY_WINDOW; seq++) receiver.unprotectRtp(sender.protectRtp(rtp(seq)));
    assert.equal(receiver.unprotectRtp(old), 'replay');
  });

  test('a forged packet far ahead moves neither the window nor the rollover counter', () => {
    const { sender, receiver, keying, a, b } = pair();
    assert.ok(Buffer.isBuffer(receiver.unprotectRtp(sender.protectRtp(rtp(50_000)))));
    // s_l = 50000, so seq 10000 reads as the next cycle (ROC 1), ahead of the window. A second
    // sender makes it, so the real sender's own rollover counter is not moved.
    const forged = new SrtpSession(keying(a, b)).protectRtp(rtp(10_000));
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 0xff;
    assert.equal(receiver.unprotectRtp(forged), 'auth');
    assert.ok(Buffer.isBuffer(receiver.unprotectRtp(sender.protectRtp(rtp(50_001)))));
  });
});

describe('rollover counter (RFC 3711 §3.3.1, Appendix A)', () => {
  test('65535 → 0 wraps on both sides, also with reordering across the wrap', () => {
    const { sender, receiver } = pair();
    const seqs = [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3];
    const wires = seqs.map((seq) => sender.protectRtp(rtp(seq)));
    // 65535 arrives after 0 and 1: the receiver must use ROC 0 for it and ROC 1 for them.
    for (const i of [0, 1, 2, 3, 4, 6, 7, 5, 8, 9]) {
      const plain = receiver.unprotectRtp(wires[i] as Buffer);
      assert.ok(Buffer.isBuffer(plain), `seq ${seqs[i]}: ${String(plain)}`);
      assert.equal(plain.readUInt16BE(2), seqs[i]);
      assert.equal(plain[12], (seqs[i] as number) & 0xff);
    }
  });

  test('the sender keys ROC 1 after the wrap: a receiver still at ROC 0 would fail it', () => {
    const { sender, keying, a, b } = pair();
    for (const seq of [65534, 65535]) sender.protectRtp(rtp(seq));
    const afterWrap = sender.protectRtp(rtp(5));
    // A fresh receiver has no history: it assumes ROC 0 and cannot authenticate ROC 1.
    assert.equal(new SrtpSession(keying(b, a)).unprotectRtp(afterWrap), 'auth');
  });

  test('many wraps in a row', () => {
    const { sender, receiver } = pair();
    let seq = 60_000;
    for (let n = 0; n < 3 * 65536; n += 997) {
      seq = (60_000 + n) & 0xffff;
      const plain = receiver.unprotectRtp(sender.protectRtp(rtp(seq, { payload: 4 })));
      assert.ok(Buffer.isBuffer(plain), `packet ${n}`);
    }
  });
});

describe('SRTCP (RFC 3711 §3.4)', () => {
  test('round trip: clear header and sender SSRC, E flag, index counting up', () => {
    const { sender, receiver } = pair('AES_CM_128_HMAC_SHA1_32');
    for (let index = 0; index < 3; index++) {
      const plain = rtcp(index);
      const wire = sender.protectRtcp(plain);
      assert.equal(wire.length, plain.length + 4 + 10, 'SRTCP keeps the 80-bit tag with _32');
      assert.deepEqual(wire.subarray(0, 8), plain.subarray(0, 8));
      assert.equal(wire.readUInt32BE(plain.length), (0x80000000 | index) >>> 0);
      assert.deepEqual(receiver.unprotectRtcp(wire), plain);
    }
  });

  test('tampered, replayed and truncated SRTCP is dropped', () => {
    const { sender, receiver } = pair();
    const wire = sender.protectRtcp(rtcp(1));
    const copy = Buffer.from(wire);
    const tampered = Buffer.from(wire);
    tampered[10] = (tampered[10] as number) ^ 1;
    assert.equal(receiver.unprotectRtcp(tampered), 'auth');
    assert.ok(Buffer.isBuffer(receiver.unprotectRtcp(wire)));
    assert.equal(receiver.unprotectRtcp(copy), 'replay');
    assert.equal(receiver.unprotectRtcp(Buffer.alloc(21)), 'malformed');
  });
});

describe('key lifetime and re-keying', () => {
  test('beyond the far end’s key lifetime packets are dropped as expired', () => {
    const { sender, receiver } = pair('AES_CM_128_HMAC_SHA1_80', 2);
    assert.ok(Buffer.isBuffer(receiver.unprotectRtp(sender.protectRtp(rtp(1)))));
    assert.ok(Buffer.isBuffer(receiver.unprotectRtp(sender.protectRtp(rtp(2)))));
    assert.equal(receiver.unprotectRtp(sender.protectRtp(rtp(3))), 'expired');
  });

  test('a re-key switches both directions and keeps the rollover state; an unchanged key is kept', () => {
    const { sender, receiver, keying, a, b } = pair();
    for (const seq of [65534, 65535, 0]) receiver.unprotectRtp(sender.protectRtp(rtp(seq)));
    const c = new SecretBytes(randomBytes(30));
    sender.rekey(keying(c, b));
    const newKeyPacket = sender.protectRtp(rtp(1));
    assert.equal(receiver.unprotectRtp(Buffer.from(newKeyPacket)), 'auth', 'old key no longer matches');
    receiver.rekey(keying(b, c));
    assert.deepEqual(receiver.unprotectRtp(newKeyPacket), rtp(1), 'ROC 1 carried over');
    receiver.rekey(keying(b, new SecretBytes(c.bytes)));
    assert.ok(Buffer.isBuffer(receiver.unprotectRtp(sender.protectRtp(rtp(2)))));
    assert.equal(a.length, 30);
  });

  test('a new suite re-keys even with the same key bytes', () => {
    const { sender, receiver, keying, a, b } = pair();
    sender.rekey({ ...keying(a, b), suite: 'AES_CM_128_HMAC_SHA1_32' });
    receiver.rekey({ ...keying(b, a), suite: 'AES_CM_128_HMAC_SHA1_32' });
    const wire = sender.protectRtp(rtp(9));
    assert.equal(wire.length, rtp(9).length + 4);
    assert.deepEqual(receiver.unprotectRtp(wire), rtp(9));
    assert.equal(receiver.suite, 'AES_CM_128_HMAC_SHA1_32');
  });
});

test('key bytes never show in JSON, String() or inspect()', () => {
  const key = new SecretBytes(Buffer.from('super secret master key bytes!'));
  const shown = [JSON.stringify({ key }), String(key), inspect({ key }), `${key}`].join(' ');
  assert.doesNotMatch(shown, /super|c3VwZXI|7375706572/);
  assert.match(shown, /redacted/);
});

/**
 * Known answers: RFC 3711 Appendix B.2 (AES-CM keystream) and B.3 (key derivation), RFC 6188
 * §7.2 (the AES-256 key derivation), the reference packets libsrtp validates itself against
 * (its `srtp_validate` and `srtp_validate_aes_256`), which pin the whole SRTP and SRTCP
 * transform byte for byte, and RFC 7714's AES-GCM packets (§16, §17), given session keys.
 */
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { AeadCrypto } from '../../../src/media/srtp/aead-crypto.js';
import {
  AesCounterMode,
  deriveCipherSessionKeys,
  deriveKey,
  deriveSessionKeys,
  SrtpSession,
} from '../../../src/media/srtp/index.js';
import { SecretBytes, type SrtpSuiteName } from '../../../src/util/index.js';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const AES_128 = { key: 16, salt: 14 } as const;
const AES_256 = { key: 32, salt: 14 } as const;

describe('RFC 3711 B.2: AES-CM keystream', () => {
  test('blocks 0-2 and 0xfeff-0xff01 of the B.2 counter', () => {
    const aes = new AesCounterMode(hex('2B7E151628AED2A6ABF7158809CF4F3C'));
    const iv = hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000');
    const keystream = Buffer.alloc(0xff02 * 16);
    aes.xor(iv, keystream);
    const block = (n: number) =>
      keystream
        .subarray(n * 16, n * 16 + 16)
        .toString('hex')
        .toUpperCase();
    assert.equal(block(0x0000), 'E03EAD0935C95E80E166B16DD92B4EB4');
    assert.equal(block(0x0001), 'D23513162B02D0F72A43A2FE4A5F97AB');
    assert.equal(block(0x0002), '41E95B3BB0A2E8DD477901E4FCA894C0');
    assert.equal(block(0xfeff), 'EC8CDF7398607CB0F2D21675EA9EA1E4');
    assert.equal(block(0xff00), '362B7C3C6773516318A077D7FC5073AE');
    assert.equal(block(0xff01), '6A2CC3787889374FBEB4C81B17BA6C44');
  });

  test('matches aes-128-ctr for any length and offset', () => {
    for (let trial = 0; trial < 50; trial++) {
      const key = randomBytes(16);
      const iv = Buffer.concat([randomBytes(14), Buffer.alloc(2)]);
      const data = randomBytes(1 + trial * 97);
      const start = trial % 13;
      const expected = Buffer.from(data);
      const ctr = createCipheriv('aes-128-ctr', key, iv).update(data.subarray(start));
      ctr.copy(expected, start);
      new AesCounterMode(key).xor(iv, data, start);
      assert.deepEqual(data, expected, `trial ${trial}`);
    }
  });

  test('refuses more than 2^16 blocks for one IV', () => {
    const aes = new AesCounterMode(Buffer.alloc(16));
    assert.throws(() => aes.xor(Buffer.alloc(16), Buffer.alloc(0x10000 * 16 + 1)), RangeError);
  });
});

describe('RFC 3711 B.3: key derivation', () => {
  const master = hex('E1F97A0D3E018BE0D64FA32C06DE4139 0EC675AD498AFEEBB6960B3AABE6');

  test('cipher key, cipher salt and authentication key', () => {
    const keys = deriveSessionKeys(master, AES_128, 'rtp');
    assert.equal(keys.cipherKey.toString('hex').toUpperCase(), 'C61E7A93744F39EE10734AFE3FF7A087');
    assert.equal(keys.salt.toString('hex').toUpperCase(), '30CBBC08863D8C85D49DB34A9AE1');
    assert.equal(keys.authKey.toString('hex').toUpperCase(), 'CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4');
  });

  test('the 94-byte authentication key B.3 lists', () => {
    const prf = new AesCounterMode(master.subarray(0, 16));
    const authKey = deriveKey(prf, master.subarray(16), 0x01, 94);
    assert.deepEqual(
      authKey,
      hex(`CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
           E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
           6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2`),
    );
  });

  test('SRTCP keys use their own labels', () => {
    assert.notDeepEqual(
      deriveSessionKeys(master, AES_128, 'rtcp').cipherKey,
      deriveSessionKeys(master, AES_128, 'rtp').cipherKey,
    );
  });

  test('a master key that is not 30 bytes is refused', () => {
    assert.throws(() => deriveSessionKeys(Buffer.alloc(29), AES_128, 'rtp'), RangeError);
    assert.throws(() => deriveSessionKeys(Buffer.alloc(46), AES_128, 'rtp'), RangeError);
  });
});

describe('RFC 6188 §7.2: AES_256_CM_PRF key derivation', () => {
  const master = hex(`f0f04914b513f2763a1b1fa130f10e29 98f6f6e43e4309d1e622a0e332b9f1b6
                      3b04803de51ee7c96423ab5b78d2`);

  test('a 256-bit cipher key, the cipher salt and the authentication key', () => {
    const keys = deriveSessionKeys(master, AES_256, 'rtp');
    assert.equal(
      keys.cipherKey.toString('hex'),
      '5ba1064e30ec51613cad926c5a28ef731ec7fb397f70a960653caf06554cd8c4',
    );
    assert.equal(keys.salt.toString('hex'), 'fa31791685ca444a9e07c6c64e93');
    assert.equal(keys.authKey.toString('hex'), 'fd9c32d39ed5fbb5a9dc96b30818454d1313dc05');
  });

  test('a master key that is not 46 bytes is refused', () => {
    assert.throws(() => deriveSessionKeys(Buffer.alloc(30), AES_256, 'rtp'), RangeError);
  });
});

describe('AES-GCM session keys (RFC 7714 §11)', () => {
  test('a cipher key and a 96-bit salt from the same PRF, and no authentication key', () => {
    const master = randomBytes(28);
    const gcm = deriveCipherSessionKeys(master, { key: 16, salt: 12 }, 'rtcp');
    assert.deepEqual(Object.keys(gcm).sort(), ['cipherKey', 'salt']);
    assert.equal(gcm.cipherKey.length, 16);
    assert.equal(gcm.salt.length, 12);
    // The 96-bit salt enters the PRF times 2^16: the same key_id bytes as a 112-bit salt whose
    // last two bytes are zero, so the cipher key matches AES-CM's derivation from that salt.
    const widened = Buffer.concat([master, Buffer.alloc(2)]);
    const cm = deriveSessionKeys(widened, AES_128, 'rtcp');
    assert.deepEqual(gcm.cipherKey, cm.cipherKey);
    assert.deepEqual(gcm.salt, cm.salt.subarray(0, 12));
  });
});

/** libsrtp's reference RTP packet (SSRC 0xcafebabe) under each key size: the packet and its `_80` protection. */
const REFERENCE_RTP = [
  {
    keys: 'AES-128, the B.3 master key',
    master: 'E1F97A0D3E018BE0D64FA32C06DE4139 0EC675AD498AFEEBB6960B3AABE6',
    suites: ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'],
    ciphertext: '4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb',
  },
  {
    keys: 'AES-256, the RFC 6188 master key',
    master: 'f0f04914b513f2763a1b1fa130f10e29 98f6f6e43e4309d1e622a0e332b9f1b6 3b04803de51ee7c96423ab5b78d2',
    suites: ['AES_256_CM_HMAC_SHA1_80', 'AES_256_CM_HMAC_SHA1_32'],
    ciphertext: 'f1d9de17ff251ff1aa007774b0b4b40d a08d9d9a5b3a55d8873b',
  },
] as const;

const rtp = hex(`800f1234decafbadcafebabe ${'ab'.repeat(16)}`);
const rtcp = hex(`81c8000bcafebabe ${'ab'.repeat(16)}`);

for (const { keys, master, suites, ciphertext } of REFERENCE_RTP) {
  describe(`libsrtp reference packets, ${keys}`, () => {
    const key = new SecretBytes(hex(master));
    const session = (suite: SrtpSuiteName) => new SrtpSession({ suite, sendKey: key, receiveKey: key });
    const [suite80, suite32] = suites;
    const srtp80 = hex(`800f1234decafbadcafebabe ${ciphertext}`);

    test(`${suite80} protects and unprotects the reference RTP packet`, () => {
      assert.deepEqual(session(suite80).protectRtp(rtp), srtp80);
      assert.deepEqual(session(suite80).unprotectRtp(Buffer.from(srtp80)), rtp);
    });

    test(`${suite32} has the same ciphertext and a 4-byte tag`, () => {
      const srtp32 = srtp80.subarray(0, srtp80.length - 6);
      assert.deepEqual(session(suite32).protectRtp(rtp), srtp32);
      assert.deepEqual(session(suite32).unprotectRtp(Buffer.from(srtp32)), rtp);
    });

    test('SRTCP keeps a 10-byte tag for both suites (RFC 4568 §6.2.2, RFC 6188 §5)', () => {
      for (const suite of suites) {
        const protectedRtcp = session(suite).protectRtcp(rtcp);
        assert.equal(protectedRtcp.length, rtcp.length + 4 + 10);
        assert.deepEqual(session(suite).unprotectRtcp(Buffer.from(protectedRtcp)), rtcp);
      }
    });
  });
}

test("SRTCP: libsrtp's reference packet (E set, index 1) both ways", () => {
  const key = new SecretBytes(hex(REFERENCE_RTP[0].master));
  const session = () => new SrtpSession({ suite: 'AES_CM_128_HMAC_SHA1_80', sendKey: key, receiveKey: key });
  // libsrtp numbers its first SRTCP packet 1; RFC 3711 §3.4 starts at 0, so ours is the second.
  const srtcp = hex('81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798');
  const sender = session();
  const first = sender.protectRtcp(rtcp);
  assert.equal(first.readUInt32BE(rtcp.length), 0x80000000, 'E flag and index 0');
  assert.deepEqual(sender.protectRtcp(rtcp), srtcp);
  assert.deepEqual(session().unprotectRtcp(Buffer.from(srtcp)), rtcp);
});

describe('RFC 7714: AES-GCM packets from the session key and salt', () => {
  const salt = hex('517569642070726f2071756f');
  const key128 = hex('000102030405060708090a0b0c0d0e0f');
  const key256 = hex('000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1f');

  test('§16.1: AEAD_AES_128_GCM protects and unprotects the example RTP packet', () => {
    const header = hex('8040f17b 8041f8d3 5501a0b2');
    const payload = hex(
      '47616c6c 69612065 7374206f 6d6e6973 20646976 69736120 696e2070 61727465 73207472 6573',
    );
    const expected = hex(`8040f17b 8041f8d3 5501a0b2
      f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f 42a5f47a 51c7d19b 36de3adf 8833
      899d7f27 beb16a91 52cf765e e4390cce`);
    const packet = Buffer.alloc(header.length + payload.length + 16);
    header.copy(packet);
    payload.copy(packet, header.length);
    const crypto = new AeadCrypto(key128, salt);
    crypto.protectRtp(packet, 12, 12 + payload.length, 0x5501a0b2, 0xf17b);
    assert.deepEqual(packet, expected);
    assert.ok(crypto.unprotectRtp(packet, 12, 12 + payload.length, 0x5501a0b2, 0xf17b));
    assert.deepEqual(packet.subarray(12, 12 + payload.length), payload);
    expected[20] = (expected[20] as number) ^ 1;
    assert.ok(!crypto.unprotectRtp(expected, 12, 12 + payload.length, 0x5501a0b2, 0xf17b), 'a flipped bit');
  });

  test('§17: AEAD_AES_256_GCM protects and unprotects the example SRTCP packet (index 0x5d4)', () => {
    const rtcp = hex(`81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
      deadbeef deadbeef deadbeef deadbeef deadbeef`);
    const expected = hex(`81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d bffe0a50
      a2eaa5c1 110555be 8415f658 c61de047 6f1b6fad 1d1eb30c 4446839f 57ff6f6c b26ac3be 800005d4`);
    const crypto = new AeadCrypto(key256, salt);
    const packet = Buffer.alloc(rtcp.length + 4 + 16);
    rtcp.copy(packet);
    crypto.protectRtcp(packet, rtcp.length, 0x5d4);
    assert.deepEqual(packet, expected);
    assert.equal(crypto.rtcpIndexAt(packet.length), rtcp.length + 16);
    assert.equal(crypto.rtcpPayloadEnd(packet.length), rtcp.length);
    assert.ok(crypto.unprotectRtcp(packet, packet.readUInt32BE(rtcp.length + 16)));
    assert.deepEqual(packet.subarray(0, rtcp.length), rtcp);
    const unencrypted = Buffer.from(expected);
    unencrypted[unencrypted.length - 4] = 0x00;
    assert.ok(
      !crypto.unprotectRtcp(unencrypted, unencrypted.readUInt32BE(rtcp.length + 16)),
      'E clear is refused',
    );
  });
});

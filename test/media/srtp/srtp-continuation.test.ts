/**
 * An SRTP stream pair carried on by a second session holding the same keys (call takeover):
 * from the first one's position the far end keeps authenticating our stream across a rollover,
 * we keep authenticating the far end's after its sequence numbers wrapped, SRTCP indices go on,
 * and what the first session already took is not taken again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { type SrtpKeying, SrtpSession } from '../../../src/media/srtp/index.js';
import { SecretBytes } from '../../../src/util/index.js';

const OUR_SSRC = 0x0a0b0c0d;
const FAR_SSRC = 0x11223344;

function keys() {
  const ours = new SecretBytes(randomBytes(30));
  const theirs = new SecretBytes(randomBytes(30));
  const keying = (send: SecretBytes, receive: SecretBytes): SrtpKeying => ({
    suite: 'AES_CM_128_HMAC_SHA1_80',
    sendKey: send,
    receiveKey: receive,
  });
  return { ourKeying: keying(ours, theirs), farKeying: keying(theirs, ours) };
}

function rtp(ssrc: number, seq: number): Buffer {
  const packet = Buffer.alloc(12 + 160, seq & 0xff);
  packet[0] = 0x80;
  packet[1] = 0;
  packet.writeUInt16BE(seq & 0xffff, 2);
  packet.writeUInt32BE((seq * 160) >>> 0, 4);
  packet.writeUInt32BE(ssrc, 8);
  return packet;
}

const rtcp = () => Buffer.concat([Buffer.from('81c8000b', 'hex'), Buffer.alloc(4, 7), Buffer.alloc(40, 3)]);
/** The SRTCP index in a protected report's trailer (RFC 3711 §3.4), E flag off. */
const srtcpIndexOf = (wire: Buffer) => wire.readUInt32BE(wire.length - 10 - 4) & 0x7fffffff;

describe('SRTP carried on from a position', () => {
  test('our stream: the far end authenticates the second session after a rollover', () => {
    const { ourKeying, farKeying } = keys();
    const first = new SrtpSession(ourKeying);
    const far = new SrtpSession(farKeying);
    // Across 65535 -> 0 the first session's ROC becomes 1.
    for (let seq = 65_530; seq < 65_536 + 4; seq++) {
      assert.ok(Buffer.isBuffer(far.unprotectRtp(first.protectRtp(rtp(OUR_SSRC, seq)))), `seq ${seq}`);
    }
    // Its position at the next sequence number, moved on by the packets of a takeover's gap.
    const at = first.position(4, undefined);
    assert.equal(at.rolloverCount, 1);
    const second = new SrtpSession(ourKeying, at);
    const afterGap = rtp(OUR_SSRC, 4 + 150);
    assert.ok(
      Buffer.isBuffer(far.unprotectRtp(second.protectRtp(afterGap))),
      'continued packet authenticates',
    );
    // A session starting over (ROC 0) would not: the far end takes its packets for forgeries.
    const fresh = new SrtpSession(ourKeying);
    assert.equal(far.unprotectRtp(fresh.protectRtp(rtp(OUR_SSRC, 4 + 151))), 'auth');
  });

  test('the position at a wrap: the next packet, sequence 0, carries the next ROC', () => {
    const { ourKeying } = keys();
    const first = new SrtpSession(ourKeying);
    first.protectRtp(rtp(OUR_SSRC, 65_535));
    assert.equal(first.position(0, undefined).rolloverCount, 1);
    assert.equal(first.position(65_535, undefined).rolloverCount, 0);
  });

  test("the far end's stream: its ROC and s_l go with the position, so wrapped packets authenticate", () => {
    const { ourKeying, farKeying } = keys();
    const far = new SrtpSession(farKeying);
    const first = new SrtpSession(ourKeying);
    for (let seq = 65_500; seq < 65_536 + 10; seq++) first.unprotectRtp(far.protectRtp(rtp(FAR_SSRC, seq)));
    const at = first.position(100, FAR_SSRC);
    assert.deepEqual(at.received, { ssrc: FAR_SSRC, rolloverCount: 1, highestSeq: 9 });
    const second = new SrtpSession(ourKeying, at);
    const fresh = new SrtpSession(ourKeying);
    // The far end went on meanwhile; 300 packets later its stream is still at ROC 1.
    for (let seq = 10; seq < 310; seq++) far.protectRtp(rtp(FAR_SSRC, seq));
    const later = far.protectRtp(rtp(FAR_SSRC, 310));
    assert.equal(fresh.unprotectRtp(Buffer.from(later)), 'auth', 'a fresh context guesses ROC 0');
    assert.ok(Buffer.isBuffer(second.unprotectRtp(later)), 'the continued context authenticates');
  });

  test('a packet the first session already took is a replay to the second', () => {
    const { ourKeying, farKeying } = keys();
    const far = new SrtpSession(farKeying);
    const first = new SrtpSession(ourKeying);
    const last = far.protectRtp(rtp(FAR_SSRC, 500));
    first.unprotectRtp(Buffer.from(last));
    const second = new SrtpSession(ourKeying, first.position(0, FAR_SSRC));
    assert.equal(second.unprotectRtp(last), 'replay');
  });

  test("nothing up to the position's highest packet is taken again, though the second session never saw them", () => {
    const { ourKeying, farKeying } = keys();
    const far = new SrtpSession(farKeying);
    const first = new SrtpSession(ourKeying);
    const earlier = far.protectRtp(rtp(FAR_SSRC, 450));
    for (let seq = 451; seq <= 500; seq++) first.unprotectRtp(far.protectRtp(rtp(FAR_SSRC, seq)));
    first.unprotectRtp(Buffer.from(earlier));
    const second = new SrtpSession(ourKeying, first.position(0, FAR_SSRC));
    assert.equal(second.unprotectRtp(earlier), 'replay', 'inside the replay window below s_l');
    assert.ok(
      Buffer.isBuffer(second.unprotectRtp(far.protectRtp(rtp(FAR_SSRC, 501)))),
      'the next one is new',
    );
  });

  test("the far end's SRTCP goes with the position: a report the first session took is a replay to the second", () => {
    const { ourKeying, farKeying } = keys();
    const far = new SrtpSession(farKeying);
    const first = new SrtpSession(ourKeying);
    first.unprotectRtp(far.protectRtp(rtp(FAR_SSRC, 500)));
    const farReport = () => {
      const report = rtcp();
      report.writeUInt32BE(FAR_SSRC, 4);
      return far.protectRtcp(report);
    };
    const taken = [farReport(), farReport(), farReport()];
    for (const report of taken) assert.ok(Buffer.isBuffer(first.unprotectRtcp(Buffer.from(report))));
    const at = first.position(0, FAR_SSRC);
    assert.equal(at.received?.srtcpIndex, 2);
    const second = new SrtpSession(ourKeying, at);
    const fresh = new SrtpSession(ourKeying);
    for (const report of taken) {
      assert.equal(second.unprotectRtcp(Buffer.from(report)), 'replay');
      assert.ok(
        Buffer.isBuffer(fresh.unprotectRtcp(Buffer.from(report))),
        'a context without the position takes it',
      );
    }
    assert.ok(Buffer.isBuffer(second.unprotectRtcp(farReport())), "the far end's next report is new");
  });

  test('SRTCP indices go on from the position, never reused', () => {
    const { ourKeying, farKeying } = keys();
    const first = new SrtpSession(ourKeying);
    const far = new SrtpSession(farKeying);
    for (let i = 0; i < 3; i++) far.unprotectRtcp(first.protectRtcp(rtcp()));
    const at = first.position(0, undefined);
    assert.equal(at.srtcpIndex, 3);
    const second = new SrtpSession(ourKeying, { ...at, srtcpIndex: at.srtcpIndex + 2 });
    const report = second.protectRtcp(rtcp());
    assert.equal(srtcpIndexOf(report), 5);
    assert.ok(Buffer.isBuffer(far.unprotectRtcp(report)), 'the far end takes it');
  });
});

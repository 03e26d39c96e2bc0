import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RtpPacket } from 'rtp.js/packets';
import { parseRtp } from '../../../src/media/rtp/index.js';
import { RTP_HEADER_BYTES, RtpPacketWriter, writeRtpHeader } from '../../../src/media/rtp/writer.js';

test('RTP header: V=2, no padding, extension or CSRCs; marker, payload type, sequence, timestamp and SSRC in network order', () => {
  const header = new Uint8Array(RTP_HEADER_BYTES);
  writeRtpHeader(header, 8, true, 0x1234, 0x89abcdef, 0xdeadbeef);
  assert.deepEqual([...header], [0x80, 0x88, 0x12, 0x34, 0x89, 0xab, 0xcd, 0xef, 0xde, 0xad, 0xbe, 0xef]);
  writeRtpHeader(header, 0, false, 0, 0, 0);
  assert.deepEqual([...header], [0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  // The marker bit never leaks into the payload type, nor a payload type over 127 into the marker.
  writeRtpHeader(header, 0xff, false, 0, 0, 0);
  assert.equal(header[1], 0x7f);
});

test('RTP header fields are taken modulo their width: sequence 2^16 and timestamp 2^32 wrap to 0', () => {
  const header = new Uint8Array(RTP_HEADER_BYTES);
  writeRtpHeader(header, 0, false, 0x10000 + 5, 2 ** 32 + 7, 2 ** 32 - 1);
  const parsed = parseRtp(Uint8Array.from([...header, 1]), 0);
  assert.equal(parsed?.sequenceNumber, 5);
  assert.equal(parsed?.timestamp, 7);
  assert.equal(parsed?.ssrc, 0xffffffff);
});

test('written packets read back the same through our parser and through rtp.js', () => {
  const writer = new RtpPacketWriter();
  const payload = Uint8Array.from({ length: 160 }, (_, i) => i);
  for (const [sequence, timestamp, marker] of [
    [0xfffe, 0xffffff60, true],
    [0xffff, 0xfffffff0, false],
    [0, 0x50, false],
  ] as const) {
    const packet = writer.write(payload, 0, marker, sequence, timestamp, 0x01020304);
    assert.equal(packet.length, RTP_HEADER_BYTES + 160);
    const ours = parseRtp(packet, 0);
    assert.deepEqual(ours && { ...ours, payload: [...ours.payload] }, {
      payloadType: 0,
      sequenceNumber: sequence,
      timestamp,
      ssrc: 0x01020304,
      marker,
      payload: [...payload],
      arrivalMs: 0,
    });
    const theirs = new RtpPacket(new DataView(packet.buffer, packet.byteOffset, packet.byteLength));
    assert.equal(theirs.getPayloadType(), 0);
    assert.deepEqual(theirs.getCsrcs(), []);
    assert.equal(theirs.getExtensions().size, 0);
    assert.equal(theirs.getMarker(), marker);
    assert.equal(theirs.getSequenceNumber(), sequence);
    assert.equal(theirs.getTimestamp(), timestamp);
    assert.equal(theirs.getSsrc(), 0x01020304);
    assert.deepEqual(
      [...new Uint8Array(theirs.getPayload().buffer, theirs.getPayload().byteOffset, 160)],
      [...payload],
    );
  }
});

test('the writer reuses one buffer for packets of a length, and writes a fresh one while a packet is held', () => {
  const writer = new RtpPacketWriter();
  const first = writer.write(new Uint8Array(160).fill(1), 0, false, 1, 160, 9);
  const second = writer.write(new Uint8Array(160).fill(2), 0, false, 2, 320, 9);
  assert.equal(second, first, 'same view, nothing allocated');
  writer.hold();
  const third = writer.write(new Uint8Array(160).fill(3), 0, false, 3, 480, 9);
  assert.notEqual(third.buffer, second.buffer, 'a held packet is never overwritten');
  assert.equal(second[RTP_HEADER_BYTES], 2);
  assert.equal(third[RTP_HEADER_BYTES], 3);
  writer.release();
  assert.equal(writer.write(new Uint8Array(160), 0, false, 4, 640, 9).buffer, first.buffer);
  assert.throws(() => writer.write(new Uint8Array(1500), 0, false, 5, 800, 9), RangeError);
});

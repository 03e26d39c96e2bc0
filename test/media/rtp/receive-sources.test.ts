import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_RECEIVE_SOURCES, ReceiveSources } from '../../../src/media/rtp/receive-sources.js';

test('receive sources: bounded, the least recently seen other than audio goes first', () => {
  const sources = new ReceiveSources(8000);
  sources.setFormat(0, 8000);
  const audio = sources.receive(1, 0);
  for (let ssrc = 2; ssrc <= 10; ssrc++) sources.receive(ssrc, 101);
  assert.equal(sources.size, MAX_RECEIVE_SOURCES);
  assert.equal(sources.audio, audio, 'audio, seen first, is kept');
  assert.equal(sources.ssrcChanges, 0);
  // Seen again, 8 is kept over 9 when the next source comes.
  const eight = sources.receive(8, 101);
  sources.receive(11, 101);
  assert.equal(sources.receive(8, 101), eight);
  assert.equal(sources.ssrcChanges, 0);
  sources.receive(12, 0);
  assert.equal(sources.audio?.stats.ssrc, 12);
  assert.equal(sources.ssrcChanges, 1);
});

test('receive sources: a new clock rate starts over; without a payload type every packet is audio', () => {
  const sources = new ReceiveSources(8000);
  sources.receive(1, 0);
  sources.receive(2, 101);
  assert.equal(sources.audio?.stats.ssrc, 2);
  assert.equal(sources.ssrcChanges, 1);
  sources.noteSenderReport(2, 1234, 5);
  assert.deepEqual(sources.audio?.lastSr, { middle32: 1234, atMs: 5 });
  sources.setFormat(111, 48000);
  assert.equal(sources.audio, undefined);
  assert.equal(sources.size, 0);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CARRIER_A, CallHarness, flush } from './helpers/call-harness.js';

test('what the bot stream counted reaches the record and, when the call ends, the metrics', async () => {
  const h = new CallHarness();
  try {
    const outbound = h.carrier(CARRIER_A).call();
    await flush();
    assert.equal((await outbound.outcome).kind, 'answered');
    const bot = h.bots.connected[0] ?? assert.fail('no bot');
    Object.assign(bot.counted, {
      socketPauses: 2,
      trimmedFrames: 46,
      compressedMs: 1500,
      callerFramesSent: 500,
      callerFramesDropped: 7,
      botMessagesInvalid: 3,
      botMessagesDropped: 40,
      botMessagesAfterStop: 5,
      reconnects: 1,
    });
    await outbound.bye();
    await flush();
    const [{ record } = assert.fail('ended')] = h.observed(0).ends;
    assert.equal(record?.media.stream?.trimmedFrames, 46);
    assert.equal(record?.media.stream?.callerFramesDropped, 7);
    assert.equal(record?.media.stream?.reconnects, 1);
    assert.equal((await h.metrics.playoutTrimmedFramesTotal.get()).values[0]?.value, 46);
    assert.equal((await h.metrics.playoutCompressedSecondsTotal.get()).values[0]?.value, 1.5);
    assert.equal((await h.metrics.botSocketPausesTotal.get()).values[0]?.value, 2);
    assert.equal((await h.metrics.botCallerFramesDroppedTotal.get()).values[0]?.value, 7);
    assert.equal((await h.metrics.botReconnectsTotal.get()).values[0]?.value, 1);
    const ignored = (await h.metrics.botMessagesIgnoredTotal.get()).values.map(
      ({ labels, value }) => `${labels.reason} ${value}`,
    );
    // Messages in flight after `stop` are no fault of the bot's: in the record only.
    assert.deepEqual(ignored.sort(), ['invalid 3', 'queue_full 40']);
  } finally {
    h.close();
  }
});

test('late frames the media leg waited for reach the record and the metrics by direction and outcome', async () => {
  const h = new CallHarness();
  try {
    const outbound = h.carrier(CARRIER_A).call();
    await flush();
    assert.equal((await outbound.outcome).kind, 'answered');
    const leg = h.legs[0] ?? assert.fail('no media leg');
    leg.lateFrames = { callerWaited: 12, callerArrived: 9, botHeld: 30, botArrived: 30 };
    await outbound.bye();
    await flush();
    const [{ record } = assert.fail('ended')] = h.observed(0).ends;
    assert.deepEqual(record?.media.lateFrames, {
      callerWaited: 12,
      callerArrived: 9,
      botHeld: 30,
      botArrived: 30,
    });
    const counted = (await h.metrics.lateFramesTotal.get()).values.map(
      ({ labels, value }) => `${labels.direction} ${labels.outcome} ${value}`,
    );
    // Nothing is added for an outcome that did not happen (the bot's held slots all filled).
    assert.deepEqual(counted.sort(), [
      'bot_to_caller arrived 30',
      'caller_to_bot arrived 9',
      'caller_to_bot missed 3',
    ]);
  } finally {
    h.close();
  }
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LossyUdpRelay } from './helpers/lossy-relay.js';
import { freePort, skipWithoutSipp, startSipp } from './helpers/sipp.js';

const skip = skipWithoutSipp();
const CALLS = 30;

/** Call-IDs matching `pattern` (one capture group) in a sipp error log. */
function callIds(errors: string, pattern: RegExp): Set<string> {
  return new Set([...errors.matchAll(pattern)].map((match) => match[1] as string));
}

test('SIPp uac -> 10% lossy relay -> SIPp uas: calls complete by retransmission', {
  skip,
  timeout: 120_000,
}, async () => {
  const uasPort = await freePort();
  const uas = startSipp({ scenario: 'uas', localPort: uasPort, calls: CALLS, timeoutMs: 100_000 });
  const relay = await LossyUdpRelay.start({
    target: { address: '127.0.0.1', port: uasPort },
    lossRate: 0.1,
    seed: 7,
  });
  const uac = startSipp({
    scenario: 'uac',
    remote: `127.0.0.1:${relay.port}`,
    localPort: await freePort(),
    calls: CALLS,
    rate: 10,
    timeoutMs: 100_000,
    extraArgs: ['-recv_timeout', '10000'],
  });
  try {
    const result = await uac.result;
    const uasResult = await uas.stop();
    assert.equal(result.timedOut, false, result.stdout.slice(-2000));
    assert.equal(result.successfulCalls + result.failedCalls, CALLS);
    assert.ok(
      relay.toTarget.dropped > 0 && relay.toClient.dropped > 0,
      'the relay dropped datagrams both ways',
    );
    assert.ok(result.retransmissions > 0, 'sipp recovered by retransmitting');
    // The only loss SIPp's built-in uas cannot recover from: 180 and 200 both dropped, so the
    // uac retransmits the INVITE while the uas already waits for the ACK and aborts the call.
    // Every uac failure must be exactly such a call.
    const uacFailed = callIds(result.errors, /Call-Id: (\S+), receive timeout/g);
    const uasAborted = callIds(
      uasResult.errors,
      /Call-Id '([^']+)': while expecting 'ACK' \(index 3\), received 'INVITE/g,
    );
    assert.equal(uacFailed.size, result.failedCalls, result.errors);
    for (const callId of uacFailed) assert.ok(uasAborted.has(callId), `${callId} failed for another reason`);
    assert.ok(result.successfulCalls >= CALLS * 0.8, `${result.successfulCalls}/${CALLS} succeeded`);
  } finally {
    relay.close();
    await uac.stop();
    await uas.stop();
  }
});

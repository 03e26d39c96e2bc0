import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
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

test('the lossy relay drops the seeded fraction each way and forwards the rest in order', async () => {
  const server = createSocket('udp4');
  const client = createSocket('udp4');
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
  server.on('message', (data, from) => server.send(data, from.port, from.address)); // echo
  const relay = await LossyUdpRelay.start({
    target: { address: '127.0.0.1', port: server.address().port },
    lossRate: 0.1,
    seed: 1,
  });
  try {
    const echoed: number[] = [];
    client.on('message', (data) => echoed.push(data.readUInt32BE(0)));
    const COUNT = 400;
    for (let i = 0; i < COUNT; i++) {
      const datagram = Buffer.alloc(4);
      datagram.writeUInt32BE(i);
      await new Promise<void>((resolve) => client.send(datagram, relay.port, '127.0.0.1', () => resolve()));
      // Pace the sender so the kernel's socket buffers (about 256 datagrams) never overflow.
      if (i % 32 === 31) await delay(2);
    }
    const settled = () =>
      relay.toTarget.forwarded + relay.toTarget.dropped === COUNT &&
      relay.toClient.forwarded + relay.toClient.dropped === relay.toTarget.forwarded &&
      echoed.length === relay.toClient.forwarded;
    for (let waits = 0; waits < 500 && !settled(); waits++) await delay(2);
    assert.equal(relay.toTarget.forwarded + relay.toTarget.dropped, COUNT);
    const dropRate = (relay.toTarget.dropped + relay.toClient.dropped) / (COUNT + relay.toTarget.forwarded);
    assert.ok(dropRate > 0.05 && dropRate < 0.15, `drop rate ${dropRate}`);
    assert.equal(echoed.length, relay.toClient.forwarded);
    assert.deepEqual(
      echoed,
      [...echoed].sort((a, b) => a - b),
      'loopback keeps order',
    );
  } finally {
    relay.close();
    server.close();
    client.close();
  }
});

/**
 * SIPp against the patchbay SIP stack over real loopback sockets:
 * SIPp uac -> patchbay UAS and patchbay UAC -> SIPp uas over UDP and TCP, 200 calls at
 * 50 calls/s, 0 failed; and SIPp uac through a relay dropping 10% of datagrams.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LossyUdpRelay } from './helpers/lossy-relay.js';
import { freePort, skipWithoutSipp, startSipp } from './helpers/sipp.js';
import { placeCalls, startStackUa, waitForTcpListener } from './helpers/stack-ua.js';

const skip = skipWithoutSipp();
const CALLS = 200;
const RATE = 50;

for (const kind of ['udp', 'tcp'] as const) {
  const sippTransport = kind === 'udp' ? 'u1' : 't1';

  describe(`SIPp over ${kind.toUpperCase()}`, { skip }, () => {
    test(`SIPp uac -> patchbay UAS: ${CALLS} calls at ${RATE}/s, 0 failed`, { timeout: 60_000 }, async () => {
      const stack = await startStackUa(kind);
      const uac = startSipp({
        scenario: 'uac',
        remote: `127.0.0.1:${stack.port}`,
        localPort: await freePort(),
        transport: sippTransport,
        calls: CALLS,
        rate: RATE,
        timeoutMs: 50_000,
      });
      try {
        const result = await uac.result;
        assert.equal(result.timedOut, false, result.stdout.slice(-1500));
        assert.equal(result.failedCalls, 0, result.errors.slice(0, 1500));
        assert.equal(result.successfulCalls, CALLS);
        assert.equal(stack.answered, CALLS);
        assert.equal(stack.ended, CALLS, 'every BYE ended its session');
        assert.equal(stack.ua.sessionCount, 0, 'no session left behind');
      } finally {
        await uac.stop();
        await stack.close();
      }
    });

    test(`patchbay UAC -> SIPp uas: ${CALLS} calls at ${RATE}/s, 0 failed`, { timeout: 60_000 }, async () => {
      const sippPort = await freePort();
      const uas = startSipp({
        scenario: 'uas',
        localPort: sippPort,
        transport: sippTransport,
        calls: CALLS,
        timeoutMs: 50_000,
      });
      const stack = await startStackUa(kind, false);
      try {
        if (kind === 'tcp') await waitForTcpListener(sippPort);
        const run = await placeCalls(stack, kind, sippPort, CALLS, RATE);
        assert.deepEqual(run.failed, []);
        assert.equal(run.answered, CALLS);
        const result = await uas.result;
        assert.equal(result.timedOut, false, result.stdout.slice(-1500));
        assert.equal(result.failedCalls, 0, result.errors.slice(0, 1500));
        assert.equal(result.successfulCalls, CALLS);
      } finally {
        await uas.stop();
        await stack.close();
      }
    });
  });
}

test('SIPp uac -> 10% lossy relay -> patchbay UAS: every call completes', {
  skip,
  timeout: 120_000,
}, async () => {
  const calls = 50;
  const stack = await startStackUa('udp');
  const relay = await LossyUdpRelay.start({
    target: { address: '127.0.0.1', port: stack.port },
    lossRate: 0.1,
    seed: 7,
  });
  const uac = startSipp({
    scenario: 'uac',
    remote: `127.0.0.1:${relay.port}`,
    localPort: await freePort(),
    calls,
    rate: 10,
    timeoutMs: 100_000,
    extraArgs: ['-recv_timeout', '20000'],
  });
  try {
    const result = await uac.result;
    assert.equal(result.timedOut, false, result.stdout.slice(-1500));
    assert.ok(
      relay.toTarget.dropped > 0 && relay.toClient.dropped > 0,
      'the relay dropped datagrams both ways',
    );
    assert.ok(result.retransmissions > 0, 'losses were recovered by retransmission');
    assert.equal(result.failedCalls, 0, result.errors.slice(0, 2000));
    assert.equal(result.successfulCalls, calls);
  } finally {
    relay.close();
    await uac.stop();
    await stack.close();
  }
});

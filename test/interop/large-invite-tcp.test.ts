/**
 * RFC 3261 §18.1.1 against a real `patchbay start` and SIPp: two carrier gateways configured on
 * UDP, each answered by a SIPp UAS on the same port over UDP and over TCP. An INVITE offering
 * SRTP with the two default suites fits a datagram and goes over UDP; one offering all six
 * suites is larger than 1300 bytes and goes over TCP to the same port, its Via saying TCP, and
 * the call is answered there. A carrier that listens on UDP only refuses the TCP connection,
 * and the same INVITE goes over UDP after all.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SRTP_SUITES } from '../../src/util/index.js';
import { answeredCallAttempts, type GatewayProcess, startGatewayProcess } from './helpers/gateway-process.js';
import { freePort, type SippHandle, skipWithoutSipp, startSipp } from './helpers/sipp.js';
import { TestBot } from './helpers/test-bot.js';

const skip = skipWithoutSipp();

/** A trunk to one carrier gateway on UDP, offering SRTP as a capability (RFC 5939) with `suites`. */
function trunk(name: string, port: number, suites?: readonly string[]): string {
  return [
    `name: ${name}`,
    'outbound:',
    `  gateways: [{ name: a, host: 127.0.0.1, port: ${port}, transport: udp }]`,
    '  attemptTimeoutMs: 8000',
    'codecs: [PCMU, PCMA]',
    `media: { encryption: optional${suites ? `, srtpSuites: [${suites.join(', ')}]` : ''} }`,
    'probing: { enabled: false }',
    '',
  ].join('\n');
}

/** SIPp's UAS on `port`, taking one call and logging its messages to `logs`/<transport>.log. */
function tracedUas(port: number, transport: 'u1' | 't1', logs: string): SippHandle {
  return startSipp({
    scenario: 'uas',
    localPort: port,
    transport,
    calls: 1,
    timeoutMs: 60_000,
    extraArgs: ['-trace_msg', '-message_file', join(logs, `${transport}.log`)],
  });
}

/** The INVITEs a SIPp UAS logged (`-trace_msg`): the transport it came on and its size. */
function invitesIn(messageLog: string): Array<{ transport: string; bytes: number; via: string }> {
  const invites: Array<{ transport: string; bytes: number; via: string }> = [];
  // Each entry: a line of dashes, `UDP message received [509] bytes :`, a blank line, the message.
  for (const entry of readFileSync(messageLog, 'utf8').split(/^-{10,}.*$/m)) {
    const received = /^\s*(UDP|TCP) message received \[(\d+)\] bytes :\s*\n\s*INVITE /.exec(entry);
    if (!received) continue;
    invites.push({
      transport: received[1] ?? '',
      bytes: Number(received[2]),
      via: /^Via: (.*)$/m.exec(entry)?.[1] ?? '',
    });
  }
  return invites;
}

test('an INVITE over 1300 bytes to a UDP gateway goes over TCP to the same port; a smaller one over UDP', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const logs = mkdtempSync(join(tmpdir(), 'patchbay-large-invite-'));
  const port = await freePort();
  const overUdp = tracedUas(port, 'u1', logs);
  const overTcp = tracedUas(port, 't1', logs);
  // One bot per call: each call's answer is its bot's first call.
  const bots = { small: await TestBot.start(), large: await TestBot.start() };
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await startGatewayProcess({
      botUrl: bots.small.url,
      trunks: { small: trunk('small', port), large: trunk('large', port, SRTP_SUITES) },
    });
    for (const name of ['small', 'large'] as const)
      assert.deepEqual(await answeredCallAttempts(gateway, name, bots[name]), [[`${name}/a`, '200']]);
    const [udp, tcp] = await Promise.all([overUdp.result, overTcp.result]);
    assert.equal(udp.successfulCalls, 1, udp.errors);
    assert.equal(tcp.successfulCalls, 1, tcp.errors);

    const [small] = invitesIn(join(logs, 'u1.log'));
    const [large] = invitesIn(join(logs, 't1.log'));
    assert.ok(small && large, 'each UAS logged its INVITE');
    t.diagnostic(`INVITE bytes: ${small.bytes} over UDP (two suites), ${large.bytes} over TCP (six)`);
    assert.equal(small.transport, 'UDP');
    assert.ok(small.bytes <= 1300, `the two-suite INVITE fits a datagram (${small.bytes} bytes)`);
    assert.match(small.via, /^SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK/);
    assert.equal(large.transport, 'TCP');
    assert.ok(large.bytes > 1300, `the six-suite INVITE is over 1300 bytes (${large.bytes})`);
    assert.match(large.via, /^SIP\/2\.0\/TCP 127\.0\.0\.1:\d+;branch=z9hG4bK/);
    const metrics = await (await fetch(`${gateway.apiUrl}/metrics`)).text();
    assert.match(metrics, /^patchbay_sip_large_requests_total\{path="tcp"\} 1$/m, 'the large INVITE, once');
    assert.match(metrics, /^patchbay_sip_large_requests_total\{path="udp_fallback"\} 0$/m);
  } finally {
    await gateway?.stop();
    await overUdp.stop();
    await overTcp.stop();
    for (const bot of Object.values(bots)) await bot.close();
    rmSync(logs, { recursive: true, force: true });
  }
});

test('a large INVITE to a carrier that takes no TCP goes over UDP after the connection is refused', {
  skip,
  timeout: 90_000,
}, async () => {
  const logs = mkdtempSync(join(tmpdir(), 'patchbay-large-invite-'));
  const port = await freePort();
  const overUdp = tracedUas(port, 'u1', logs);
  const bot = await TestBot.start();
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await startGatewayProcess({
      botUrl: bot.url,
      trunks: { large: trunk('large', port, SRTP_SUITES) },
    });
    assert.deepEqual(await answeredCallAttempts(gateway, 'large', bot), [['large/a', '200']]);
    const udp = await overUdp.result;
    assert.equal(udp.successfulCalls, 1, udp.errors);
    const [invite] = invitesIn(join(logs, 'u1.log'));
    assert.ok(invite && invite.bytes > 1300, `the six-suite INVITE came over UDP (${invite?.bytes} bytes)`);
    assert.match(invite.via, /^SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK/);
    const metrics = await (await fetch(`${gateway.apiUrl}/metrics`)).text();
    assert.match(metrics, /^patchbay_sip_large_requests_total\{path="tcp"\} 1$/m);
    assert.match(metrics, /^patchbay_sip_large_requests_total\{path="udp_fallback"\} 1$/m);
  } finally {
    await gateway?.stop();
    await overUdp.stop();
    await bot.close();
    rmSync(logs, { recursive: true, force: true });
  }
});

/**
 * RFC 3261 §18.1.1 against a real `patchbay start` and SIPp: two carrier gateways configured on
 * UDP, each answered by a SIPp UAS on the same port over UDP and over TCP. An INVITE offering
 * SRTP with the two default suites fits a datagram and goes over UDP; one offering all six
 * suites is larger than 1300 bytes and goes over TCP to the same port, its Via saying TCP, and
 * the call is answered there. A carrier that listens on UDP only refuses the TCP connection,
 * and the same INVITE goes over UDP after all. One that drops the SYN unanswered gets it over
 * UDP once the connection is not up within 4*T1, and its next large INVITE over UDP at once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
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

/** SIPp's UAS on `port`, taking `calls` calls and logging its messages to `logs`/<transport>.log. */
function tracedUas(port: number, transport: 'u1' | 't1', logs: string, calls = 1): SippHandle {
  return startSipp({
    scenario: 'uas',
    localPort: port,
    transport,
    calls,
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

/**
 * A TCP port on loopback that drops SYNs unanswered, as a carrier's firewall does: a listener
 * with a backlog of one in a stopped process, its accept queue filled, so the kernel drops
 * every further SYN. Returns how to take it down.
 */
async function synBlackHole(port: number): Promise<() => void> {
  const listener = spawn(
    process.execPath,
    [
      '-e',
      `require('node:net').createServer().listen({ port: ${port}, host: '127.0.0.1', backlog: 1 }, () => console.log('up'))`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const fillers: Socket[] = [];
  const takeDown = (): void => {
    listener.kill('SIGKILL');
    for (const socket of fillers) socket.destroy();
  };
  await new Promise((resolve) => listener.stdout.once('data', resolve));
  listener.kill('SIGSTOP');
  for (let attempt = 0; attempt < 8; attempt++) {
    const socket = new Socket();
    fillers.push(socket);
    const connected = await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true));
      socket.once('error', () => resolve(false));
      setTimeout(() => resolve(false), 500);
      socket.connect(port, '127.0.0.1');
    });
    if (!connected) return takeDown;
  }
  takeDown();
  throw new Error(`the accept queue of port ${port} did not fill`);
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

/**
 * Two six-suite calls to a carrier that listens on UDP only (a SIPp UAS), its TCP port closed
 * or, with `dropSyn`, dropping SYNs: the INVITEs it logged, and the gateway's large-request
 * counts as `tcp/udp_fallback/udp_no_tcp`.
 */
async function largeCallsToUdpOnlyCarrier(
  dropSyn: boolean,
): Promise<{ invites: ReturnType<typeof invitesIn>; counts: string }> {
  const logs = mkdtempSync(join(tmpdir(), 'patchbay-large-invite-'));
  const port = await freePort();
  // Everything is started inside the try, so a failing start still takes down what came before
  // it (the black hole is a stopped process that would otherwise outlive the test).
  let takeDown = (): void => undefined;
  let overUdp: SippHandle | undefined;
  const bots: TestBot[] = [];
  let gateway: GatewayProcess | undefined;
  try {
    if (dropSyn) takeDown = await synBlackHole(port);
    overUdp = tracedUas(port, 'u1', logs, 2);
    // One bot per call: each call's answer is its bot's first call.
    bots.push(await TestBot.start(), await TestBot.start());
    gateway = await startGatewayProcess({
      botUrl: bots[0]?.url ?? '',
      trunks: { large: trunk('large', port, SRTP_SUITES) },
    });
    for (const bot of bots)
      assert.deepEqual(await answeredCallAttempts(gateway, 'large', bot), [['large/a', '200']]);
    const udp = await overUdp.result;
    assert.equal(udp.successfulCalls, 2, udp.errors);
    const metrics = await (await fetch(`${gateway.apiUrl}/metrics`)).text();
    const count = (path: string) =>
      new RegExp(`^patchbay_sip_large_requests_total\\{path="${path}"\\} (\\d+)$`, 'm').exec(metrics)?.[1];
    return {
      invites: invitesIn(join(logs, 'u1.log')),
      counts: `${count('tcp')}/${count('udp_fallback')}/${count('udp_no_tcp')}`,
    };
  } finally {
    await gateway?.stop();
    await overUdp?.stop();
    for (const bot of bots) await bot.close();
    takeDown();
    rmSync(logs, { recursive: true, force: true });
  }
}

for (const [carrier, dropSyn] of [
  ['refuses TCP connections', false],
  ['drops TCP SYNs unanswered (its connection not up within 4*T1)', true],
] as const) {
  test(`a large INVITE to a carrier that ${carrier} goes over UDP after all; its next one over UDP at once`, {
    skip,
    timeout: 90_000,
  }, async () => {
    const { invites, counts } = await largeCallsToUdpOnlyCarrier(dropSyn);
    assert.equal(invites.length, 2);
    for (const invite of invites) {
      assert.ok(invite.bytes > 1300, `the six-suite INVITE came over UDP (${invite.bytes} bytes)`);
      assert.match(invite.via, /^SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK/);
    }
    assert.equal(counts, '1/1/1', 'tcp/udp_fallback/udp_no_tcp: TCP tried for the first INVITE only');
  });
}

/**
 * Lifecycle of a real `patchbay start` process: SIGTERM drains (calls in progress finish, new
 * INVITEs and OPTIONS get 503, /readyz is 503, exit 0 after the last call), SIGHUP reloads routes for new calls only
 * (the first route to `builtin:echo` starts the built-in bot), and /metrics
 * follows a call up and back down.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { callGateway, type GatewayProcess, startGatewayProcess } from './helpers/gateway-process.js';
import { optionsStatus } from './helpers/sip-options.js';
import { TestBot } from './helpers/test-bot.js';

const skip = skipUnlessPresent(commandAvailable('sipp', ['-v']), 'needs sipp');

/**
 * An INVITE that must be refused with 503 (then ACKed on the INVITE's branch, RFC 3261
 * §17.1.1.3): a SIPp "successful call" here is one that got exactly that.
 */
const EXPECT_503_SCENARIO = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="INVITE expecting 503">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="503"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
</scenario>
`;

let scenarioDir: string;

before(() => {
  scenarioDir = mkdtempSync(join(tmpdir(), 'patchbay-lifecycle-'));
  writeFileSync(join(scenarioDir, 'expect-503.xml'), EXPECT_503_SCENARIO);
});

after(() => {
  rmSync(scenarioDir, { recursive: true, force: true });
});

async function poll<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(50);
  }
}

async function answeredCalls(gateway: GatewayProcess): Promise<number> {
  const body = (await (await fetch(`${gateway.apiUrl}/v1/calls`)).json()) as {
    calls: Array<{ state: string }>;
  };
  return body.calls.filter((call) => call.state === 'answered').length;
}

async function uac(gateway: GatewayProcess, holdMs: number, calls = 1, rate = 10) {
  return callGateway(gateway, {
    scenario: 'uac',
    calls,
    rate,
    concurrentLimit: calls,
    timeoutMs: 40_000,
    extraArgs: ['-d', String(holdMs)],
    to: '+15551230000',
  });
}

test('SIGTERM drains: calls in progress finish, new calls and OPTIONS get 503, exit 0', {
  skip,
  timeout: 60_000,
}, async () => {
  const bot = await TestBot.start();
  const gateway = await startGatewayProcess({ botUrl: bot.url, drainTimeoutSec: 20 });
  try {
    const first = await uac(gateway, 4000, 20, 20);
    await poll('20 answered calls', 10_000, async () =>
      (await answeredCalls(gateway)) === 20 ? true : undefined,
    );
    assert.equal((await fetch(`${gateway.apiUrl}/readyz`)).status, 200);
    assert.equal(await optionsStatus(gateway.sipPort), 200);

    gateway.child.kill('SIGTERM');
    await poll('draining', 3000, async () =>
      (await fetch(`${gateway.apiUrl}/readyz`)).status === 503 ? true : undefined,
    );
    assert.equal(await optionsStatus(gateway.sipPort), 503, 'OPTIONS while draining');
    const refused = await (
      await callGateway(gateway, {
        scenario: join(scenarioDir, 'expect-503.xml'),
        calls: 5,
        rate: 50,
        concurrentLimit: 5,
        timeoutMs: 20_000,
        to: '+15551230001',
      })
    ).result;
    assert.equal(refused.successfulCalls, 5, `new calls while draining: ${refused.errors}`);
    assert.equal(refused.failedCalls, 0);

    const done = await first.result;
    assert.equal(done.successfulCalls, 20, `${done.errors}\n${gateway.logs().slice(-3000)}`);
    assert.equal(done.failedCalls, 0);
    assert.equal(done.exitCode, 0);

    // The records file is read before stop() removes the directory.
    assert.equal(await gateway.exited, 0, 'exit code after the last call');
    const records = gateway.records();
    assert.equal(records.length, 20, 'one record per drained call, none for the refused ones');
    assert.ok(
      records.every((record) => record['hangupBy'] === 'caller' && record['answeredAt'] !== undefined),
      JSON.stringify(records.map((record) => [record['hangupBy'], record['end']])),
    );
    assert.match(gateway.logs(), /"draining"/);
  } finally {
    await gateway.stop('SIGKILL');
    await bot.close();
  }
});

test('SIGHUP reload: new calls follow the new route, the call in progress stays', {
  skip,
  timeout: 60_000,
}, async () => {
  const botA = await TestBot.start();
  const botB = await TestBot.start();
  const gateway = await startGatewayProcess({ botUrl: botA.url });
  try {
    const long = await uac(gateway, 6000);
    const callA = await poll('the call at bot A', 5000, async () =>
      botA.calls[0]?.streamSid ? botA.calls[0] : undefined,
    );

    const yaml = readFileSync(gateway.gatewayFile, 'utf8');
    assert.ok(yaml.includes(botA.url));
    writeFileSync(gateway.gatewayFile, yaml.replace(botA.url, botB.url));
    gateway.child.kill('SIGHUP');
    await poll('config reloaded', 5000, async () =>
      gateway.logs().includes('"config reloaded"') ? true : undefined,
    );

    const short = await (await uac(gateway, 500)).result;
    assert.equal(short.successfulCalls, 1, `${short.errors}\n${gateway.logs().slice(-3000)}`);
    assert.equal(botB.calls.length, 1, 'the call after the reload went to bot B');
    assert.equal(botA.calls.length, 1, 'bot A got no new call');
    assert.equal(callA.stopped, false, 'the call in progress was not stopped by the reload');
    assert.ok(long.pid !== undefined);

    // A broken trunk file: the reload is refused with file and line,
    // and the running config (routes to bot B) stays.
    const trunkFile = join(gateway.dir, 'sip-profiles', 'local.yaml');
    const trunkYaml = readFileSync(trunkFile, 'utf8');
    const colourLine = trunkYaml.split('\n').length; // the appended key lands on the line after the last
    writeFileSync(trunkFile, `${trunkYaml}colour: blue\n`.replace('127.0.0.0/8', '127.0.0.0/40'));
    gateway.child.kill('SIGHUP');
    const refusal = await poll('reload refused', 5000, async () =>
      gateway
        .logs()
        .split('\n')
        .find((line) => line.includes('"config reload refused"')),
    );
    assert.match(refusal, /local\.yaml:3:\d+ inbound\.allowedCidrs\[0\]: not an IPv4 or IPv6 CIDR/, refusal);
    assert.ok(refusal.includes(`local.yaml:${colourLine}:1 colour: unknown key`), refusal);
    const afterBroken = await (await uac(gateway, 300)).result;
    assert.equal(afterBroken.successfulCalls, 1, afterBroken.errors);
    assert.equal(botB.calls.length, 2, 'the old config still routes to bot B');

    // The first route to the built-in bot: the reload starts it, and the next call talks to it.
    writeFileSync(trunkFile, trunkYaml);
    writeFileSync(gateway.gatewayFile, yaml.replace(botA.url, 'builtin:echo'));
    gateway.child.kill('SIGHUP');
    await poll('the second reload', 5000, async () =>
      gateway.logs().split('"config reloaded"').length === 3 ? true : undefined,
    );
    const toEcho = await (await uac(gateway, 300)).result;
    assert.equal(toEcho.successfulCalls, 1, `${toEcho.errors}\n${gateway.logs().slice(-3000)}`);
    assert.equal(botB.calls.length, 2, 'bot B got no new call');

    const longResult = await long.result;
    assert.equal(longResult.successfulCalls, 1, longResult.errors);
    await Promise.race([callA.closed, delay(3000)]);
    assert.equal(callA.stopped, true, 'bot A got stop when its call ended normally');
    const records = await gateway.recordsWhen((written) => written.length === 4);
    assert.deepEqual(
      records.map((record) => `${record['stream']} ${(record['end'] as { cause: string }).cause}`).sort(),
      [
        `${botA.url} caller_bye`,
        `${botB.url} caller_bye`,
        `${botB.url} caller_bye`,
        'builtin:echo caller_bye',
      ].sort(),
    );
  } finally {
    await gateway.stop();
    await botA.close();
    await botB.close();
  }
});

function sampleSum(families: PrometheusFamily[], name: string, labels: Record<string, string> = {}): number {
  const family = families.find((candidate) => candidate.name === name);
  return (family?.metrics ?? [])
    .filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value))
    .reduce((sum, sample) => sum + Number(sample.value ?? 0), 0);
}

test('/metrics: active calls up during a call and back to 0, answered calls counted, loop lag', {
  skip,
  timeout: 60_000,
}, async () => {
  const bot = await TestBot.start();
  const gateway = await startGatewayProcess({ botUrl: bot.url });
  const scrape = async () =>
    parsePrometheusTextFormat(await (await fetch(`${gateway.apiUrl}/metrics`)).text());
  try {
    const before = await scrape();
    assert.equal(sampleSum(before, 'patchbay_active_calls'), 0);
    const answeredBefore = sampleSum(before, 'patchbay_calls_total', { outcome: 'answered' });

    const call = await uac(gateway, 2000);
    const during = await poll('an active call in /metrics', 5000, async () => {
      const families = await scrape();
      return sampleSum(families, 'patchbay_active_calls') === 1 ? families : undefined;
    });
    assert.equal(sampleSum(during, 'patchbay_active_calls', { direction: 'inbound' }), 1);
    // A message the dialect refuses is ignored, and counted in the record and the metrics.
    const botCall = await poll('the call at the bot', 5000, async () => bot.calls[0]);
    botCall.socket.send('not json');
    const result = await call.result;
    assert.equal(result.successfulCalls, 1, result.errors);

    const afterCall = await poll('no active call in /metrics', 5000, async () => {
      const families = await scrape();
      return sampleSum(families, 'patchbay_active_calls') === 0 ? families : undefined;
    });
    assert.equal(
      sampleSum(afterCall, 'patchbay_calls_total', { outcome: 'answered', direction: 'inbound' }),
      answeredBefore + 1,
    );
    assert.equal(sampleSum(afterCall, 'patchbay_bot_messages_ignored_total', { reason: 'invalid' }), 1);
    const [record] = await gateway.recordsWhen((written) => written.length === 1);
    const stream = (record?.['media'] as { stream?: Record<string, number> } | undefined)?.stream;
    assert.equal(stream?.['botMessagesInvalid'], 1, JSON.stringify(stream));
    assert.ok((stream?.['callerFramesSent'] ?? 0) > 0, 'the caller frames sent to the bot counted');
    const lag = afterCall.find((family) => family.name === 'patchbay_event_loop_lag_seconds');
    assert.equal(lag?.type, 'GAUGE');
    const value = Number(lag?.metrics[0]?.value);
    assert.ok(Number.isFinite(value) && value >= 0, `event loop lag ${value}`);
  } finally {
    await gateway.stop();
    await bot.close();
  }
});

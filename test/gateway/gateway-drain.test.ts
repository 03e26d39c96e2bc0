/**
 * The Gateway itself, in-process on real loopback sockets with an injected clock: drain
 * refuses new INVITEs with 503 at once, and when the drain timeout passes (on the FakeClock)
 * the call still in progress is ended with cause `drain_timeout`: the caller gets a BYE,
 * `drainAndWait` resolves, and the call record says why the call ended.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Gateway } from '../../src/gateway/index.js';
import { type OutboundSession, SipTransport, SipUserAgent } from '../../src/sip/index.js';
import { FakeClock, SystemClock, silentLogger } from '../../src/util/index.js';
import { freePort } from '../interop/helpers/sipp.js';
import { ANSWER_SDP } from '../interop/helpers/stack-ua.js';
import { startLoopbackGateway } from './helpers/loopback-gateway.js';

// Short, because advancing the FakeClock also runs every 20 ms media tick of the call in between.
const DRAIN_TIMEOUT_MS = 2000;

let gateway: Gateway | undefined;
const recordsDir = mkdtempSync(join(tmpdir(), 'patchbay-drain-'));
const recordsFile = join(recordsDir, 'calls.jsonl');
let caller: { ua: SipUserAgent; transport: SipTransport; port: number };
let sipPort: number;
const clock = new FakeClock();

before(async () => {
  sipPort = await freePort();
  gateway = await startLoopbackGateway({ clock, sipPort, recordsFile });
  const transport = new SipTransport({
    listen: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
    logger: silentLogger,
  });
  await transport.start();
  const ua = new SipUserAgent({
    transport,
    clock: new SystemClock(),
    logger: silentLogger,
    product: 'drain-test-caller',
    onInvite: (session) => session.reject(603),
  });
  caller = { ua, transport, port: transport.local('udp')?.port ?? 0 };
});

after(async () => {
  caller?.ua.close();
  await caller?.transport.close();
  await gateway?.stop();
  rmSync(recordsDir, { recursive: true, force: true });
});

function call(): OutboundSession {
  return caller.ua.call({
    requestUri: `sip:+15550100@127.0.0.1:${sipPort}`,
    destination: { transport: 'udp', address: '127.0.0.1', port: sipPort },
    from: `<sip:caller@127.0.0.1:${caller.port}>`,
    to: `<sip:+15550100@127.0.0.1:${sipPort}>`,
    sdp: ANSWER_SDP,
  });
}

describe('Gateway drain (in-process, real loopback sockets, FakeClock)', () => {
  it('refuses new calls with 503 while draining and ends the call left at the drain timeout', {
    timeout: 20_000,
  }, async () => {
    const live = gateway ?? assert.fail('gateway started');
    const inProgress = call();
    const answered = await inProgress.outcome;
    assert.equal(answered.kind, 'answered', 'the demo bot answers');
    assert.equal(live.calls.size, 1);
    const byeFromGateway = new Promise<string>((resolve) =>
      inProgress.once('terminated', (cause) => resolve(cause.by)),
    );

    const drained = live.drainAndWait(DRAIN_TIMEOUT_MS);
    const refused = await call().outcome;
    assert.equal(refused.kind, 'failed');
    assert.equal(refused.kind === 'failed' ? refused.status : 0, 503, 'a new INVITE while draining');
    assert.equal(live.calls.size, 1, 'the call in progress goes on');

    clock.advance(DRAIN_TIMEOUT_MS - 1);
    assert.equal(live.calls.size, 1, 'not before the timeout');
    clock.advance(1);
    await drained;
    assert.equal(live.calls.size, 0);
    assert.equal(await byeFromGateway, 'remote', 'the caller got a BYE');
    await live.stop(); // flushes the call-record file
    gateway = undefined;
    const records = readFileSync(recordsFile, 'utf8').trim().split('\n');
    assert.equal(records.length, 1, 'one record for the one admitted call');
    const record = JSON.parse(records[0] ?? '{}') as { end?: { cause: string }; answeredAt?: string };
    assert.equal(record.end?.cause, 'drain_timeout');
    assert.ok(record.answeredAt);
  });
});

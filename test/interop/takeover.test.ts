/**
 * Call takeover as deployed: real Kamailio in front of two `patchbay start` nodes with
 * `cluster.takeover` on, one real Redis, a Twilio bot streaming a tone without pause, and
 * callers built from the SIP stack that send RTP and record every packet they get back.
 * Ten calls are answered and spread over both nodes; node a is killed with SIGKILL. Every call
 * it carried comes back on node b: the caller hears the bot again on the same RTP stream (same
 * SSRC, the sequence moving on by about the gap), the bot gets a new `start` with the same
 * callSid marked `resumed`. A BYE sent while node a is dead still ends its call with 200, and a
 * re-INVITE sent meanwhile is answered 200 by node b; the calls on node b never notice; every
 * call ends with one record.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, test } from 'node:test';
import { decodeMulaw } from '../../src/media/g711.js';
import { type OutboundSession, SipTransport, SipUserAgent } from '../../src/sip/index.js';
import { createOffer, negotiateAnswer, parseAnswer } from '../../src/sip/sdp.js';
import { SystemClock, silentLogger } from '../../src/util/index.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { type LoopbackCluster, startLoopbackCluster } from './helpers/loopback-cluster.js';
import { TestBot } from './helpers/test-bot.js';

const skip = skipUnlessPresent(
  ['kamailio', 'redis-server'].every((command) => commandAvailable(command, ['-v'])),
  'kamailio or redis-server not installed',
);
const CALLS = 10;
const DEAD_AFTER_MS = 1500;
const NODE_A = '127.0.0.2';
const NODE_B = '127.0.0.3';
/** A µ-law frame whose mean magnitude is above this carries the bot's tone (silence is 0). */
const TONE_LEVEL = 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Received {
  atMs: number;
  from: string;
  ssrc: number;
  sequence: number;
  timestamp: number;
  tone: boolean;
}

interface Caller {
  index: number;
  session: OutboundSession;
  rtp: Socket;
  target: { address: string; port: number };
  received: Received[];
  sender: NodeJS.Timeout;
}

let cluster: LoopbackCluster | undefined;
let bot: TestBot | undefined;
let transport: SipTransport | undefined;
let ua: SipUserAgent | undefined;
const callers: Caller[] = [];

before(async () => {
  if (skip) return;
  bot = await TestBot.start({ stream: { frequency: 400 } });
  cluster = await startLoopbackCluster({
    trunkCps: 50,
    trunkBurst: 50,
    trunkMaxCalls: 200,
    heartbeatMs: 500,
    leaseTtlMs: 3000,
    takeoverDeadAfterMs: DEAD_AFTER_MS,
    dialogFrTimerMs: 1000,
    botUrl: bot.url,
  });
  transport = new SipTransport({
    listen: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
    logger: silentLogger,
  });
  await transport.start();
  ua = new SipUserAgent({
    transport,
    clock: new SystemClock(),
    logger: silentLogger,
    onInvite: (session) => session.reject(603),
  });
});

after(async () => {
  for (const caller of callers) {
    clearInterval(caller.sender);
    caller.rtp.close();
  }
  ua?.close();
  await transport?.close();
  await cluster?.stop();
  await bot?.close();
});

/** One call through Kamailio; RTP out every 20 ms to wherever the latest SDP says. */
async function placeCall(index: number): Promise<Caller> {
  const rtp = createSocket('udp4');
  rtp.on('error', () => undefined);
  await new Promise<void>((resolve) => rtp.bind(0, '127.0.0.1', resolve));
  const rtpPort = rtp.address().port;
  const [host, port] = cluster!.proxy.split(':') as [string, string];
  let version = 1;
  const answerFor = (offer: string) =>
    negotiateAnswer(offer, {
      address: '127.0.0.1',
      port: rtpPort,
      preferences: ['PCMU'],
      sessionVersion: ++version,
    });
  const session = ua!.call({
    requestUri: `sip:1000@${host}:${port}`,
    destination: { transport: 'udp', address: host, port: Number(port) },
    from: `<sip:caller${index}@127.0.0.1:${transport!.local('udp')?.port}>`,
    to: `<sip:1000@${host}:${port}>`,
    sdp: createOffer({ address: '127.0.0.1', port: rtpPort, codecs: ['PCMU'] }),
    // The taking-over node's re-INVITE moves our RTP to its new port.
    answerOffer: (offer) => {
      const answer = answerFor(offer);
      if (!answer.ok) return { status: 488 };
      caller.target = { address: answer.remote.address, port: answer.remote.port };
      return { sdp: answer.answer };
    },
  });
  const caller: Caller = {
    index,
    session,
    rtp,
    target: { address: '127.0.0.1', port: 9 },
    received: [],
    sender: setInterval(() => undefined, 1000),
  };
  rtp.on('message', (packet, rinfo) => {
    const payload = decodeMulaw(packet.subarray(12));
    let sum = 0;
    for (const sample of payload) sum += Math.abs(sample);
    caller.received.push({
      atMs: performance.now(),
      from: rinfo.address,
      ssrc: packet.readUInt32BE(8),
      sequence: packet.readUInt16BE(2),
      timestamp: packet.readUInt32BE(4),
      tone: payload.length > 0 && sum / payload.length > TONE_LEVEL,
    });
  });
  const outcome = await session.outcome;
  assert.equal(outcome.kind, 'answered', `call ${index} was not answered`);
  if (outcome.kind !== 'answered') return caller;
  const answer = parseAnswer(outcome.response.body.toString(), ['PCMU']);
  assert.ok(answer.ok);
  caller.target = { address: answer.remote.address, port: answer.remote.port };
  // µ-law silence, 20 ms a packet, our own SSRC and sequence.
  let sequence = 0;
  const packet = Buffer.alloc(12 + 160, 0xff);
  packet[0] = 0x80;
  packet.writeUInt32BE(0x1234_0000 + index, 8);
  clearInterval(caller.sender);
  caller.sender = setInterval(() => {
    packet.writeUInt16BE(sequence++ & 0xffff, 2);
    packet.writeUInt32BE((sequence * 160) >>> 0, 4);
    rtp.send(packet, caller.target.port, caller.target.address);
  }, 20);
  return caller;
}

/** Sends BYE in the caller's dialog; its final status. */
async function hangUp(caller: Caller): Promise<number> {
  const dialog = caller.session.dialog;
  assert.ok(dialog);
  const bye = dialog.createRequest('BYE');
  const destination = dialog.destination();
  caller.session.terminate({ by: 'local', reason: 'test hangup' });
  const response = await ua!.request(bye, destination);
  clearInterval(caller.sender);
  return response.status;
}

const tonesFrom = (caller: Caller, address: string, sinceMs = 0) =>
  caller.received.filter((packet) => packet.tone && packet.from === address && packet.atMs >= sinceMs);

async function waitFor(condition: () => boolean, what: string, withinMs: number): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (!condition()) {
    if (performance.now() > deadline)
      throw new Error(`timed out waiting for ${what}\n${cluster?.output().slice(-6000)}`);
    await sleep(50);
  }
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

test('the calls of a node killed with SIGKILL come back on the other node', {
  skip,
  timeout: 60_000,
}, async () => {
  for (let index = 0; index < CALLS; index++) {
    callers.push(await placeCall(index));
    await sleep(50);
  }
  await waitFor(
    () => callers.every((caller) => caller.received.filter((packet) => packet.tone).length >= 25),
    'the bot tone on every call',
    10_000,
  );
  const onA = callers.filter((caller) => caller.received.at(-1)?.from === NODE_A);
  const onB = callers.filter((caller) => caller.received.at(-1)?.from === NODE_B);
  assert.ok(onA.length >= 3 && onB.length >= 1, `calls spread a=${onA.length} b=${onB.length}`);
  assert.equal(onA.length + onB.length, CALLS);
  const [byeInGap, reinviteInGap, ...others] = onA as [Caller, Caller, ...Caller[]];
  const resumed = [reinviteInGap, ...others];
  const startsBefore = bot!.calls.length;

  const killedAt = performance.now();
  process.kill(cluster!.pid('node-a'), 'SIGKILL');
  // The caller hangs up while its node is dead: Kamailio fails the BYE over to node b.
  const byeStatus = hangUp(byeInGap);
  // Another re-INVITEs (a session refresh with its SDP unchanged) while its node is dead.
  const reinviteStatus = reinviteInGap.session
    .reinvite(reinviteInGap.session.lastLocalSdp ?? '')
    .then((response) => response.status);

  await waitFor(
    () => resumed.every((caller) => tonesFrom(caller, NODE_B, killedAt).length >= 5),
    'the bot tone again on every call node a carried',
    15_000,
  );
  assert.equal(await byeStatus, 200, 'a BYE sent during the gap is answered 200');
  assert.equal(await reinviteStatus, 200, 'a re-INVITE sent during the gap is answered 200');

  const gaps: number[] = [];
  const jumps: string[] = [];
  for (const caller of resumed) {
    const before = caller.received.filter((packet) => packet.from === NODE_A && packet.atMs < killedAt + 100);
    const lastToneBefore = before.filter((packet) => packet.tone).at(-1);
    const firstToneAfter = tonesFrom(caller, NODE_B, killedAt)[0];
    assert.ok(lastToneBefore && firstToneAfter);
    const gapMs = firstToneAfter.atMs - lastToneBefore.atMs;
    gaps.push(gapMs);
    // One continuous stream: the same SSRC, the sequence and timestamp moving on over the gap.
    const lastBefore = before.at(-1)!;
    const firstAfter = caller.received.find((packet) => packet.from === NODE_B)!;
    assert.equal(firstAfter.ssrc, lastBefore.ssrc, `call ${caller.index}: same SSRC after takeover`);
    const sequenceJump = (firstAfter.sequence - lastBefore.sequence + 0x10000) & 0xffff;
    const silentMs = firstAfter.atMs - lastBefore.atMs;
    jumps.push(`${sequenceJump} packets / ${Math.round(silentMs)} ms`);
    assert.ok(
      sequenceJump >= 1 && sequenceJump <= Math.ceil(silentMs / 20) + 20,
      `call ${caller.index}: sequence jumped ${sequenceJump} over ${Math.round(silentMs)} ms`,
    );
    const timestampJump = (firstAfter.timestamp - lastBefore.timestamp) >>> 0;
    assert.ok(
      timestampJump > 0 && timestampJump < ((silentMs + 1000) * 8000) / 1000,
      `call ${caller.index}: timestamp jumped ${timestampJump} over ${Math.round(silentMs)} ms`,
    );
  }
  const p50 = Math.round(percentile(gaps, 50));
  const max = Math.round(Math.max(...gaps));
  const all = gaps.map((gap) => Math.round(gap)).join(', ');
  console.log(`takeover audio gap over ${gaps.length} calls: p50 ${p50} ms, max ${max} ms (${all})`);
  console.log(`RTP sequence jump over the silence: ${jumps.join(', ')}`);

  // The bot: one new `start` per resumed call, same callSid, marked resumed.
  const resumedStarts = bot!.calls.slice(startsBefore);
  for (const caller of resumed) {
    const name = `caller${caller.index}@`;
    const starts = bot!.calls.filter((call) => call.customParameters['sipFrom']?.includes(name));
    assert.equal(starts.length, 2, `call ${caller.index}: a second start`);
    assert.equal(starts[1]!.callSid, starts[0]!.callSid);
    assert.equal(starts[1]!.customParameters['resumed'], 'true');
  }
  assert.ok(resumedStarts.length <= resumed.length + 1, 'no call resumed twice');

  // The calls node b carried all along never stopped.
  for (const caller of onB) {
    const tones = caller.received.filter((packet) => packet.tone && packet.atMs > killedAt);
    let longest = 0;
    for (let i = 1; i < tones.length; i++) longest = Math.max(longest, tones[i]!.atMs - tones[i - 1]!.atMs);
    assert.ok(longest < 1000, `call ${caller.index} on node b paused ${Math.round(longest)} ms`);
    assert.equal(new Set(caller.received.map((packet) => packet.ssrc)).size, 1);
  }

  for (const caller of [...resumed, ...onB])
    assert.equal(await hangUp(caller), 200, `BYE of call ${caller.index}`);

  // One complete record per call, every one on node b (node a died with its calls in progress).
  await waitFor(() => cluster!.records('b').length >= CALLS, 'a record of every call', 10_000);
  const records = cluster!.records('b') as Array<
    ReturnType<LoopbackCluster['records']>[number] & {
      sipCallId: string;
      takeover?: { node: string; fromNode: string; gapMs: number };
    }
  >;
  assert.equal(cluster!.records('a').length, 0);
  assert.equal(new Set(records.map((record) => record.sipCallId)).size, CALLS, 'one record per call');
  for (const caller of onA) {
    const record = records.find((candidate) => candidate.sipCallId === caller.session.callId);
    assert.ok(record, `call ${caller.index} has a record`);
    assert.equal(record.takeover?.node, 'node-b');
    assert.equal(record.takeover?.fromNode, 'node-a');
    assert.ok(record.answeredAt);
  }
  const claims = cluster!
    .logLines('b')
    .filter((line) => line.msg === 'taking over call')
    .map((line) => (line as { sipCallId?: string }).sipCallId);
  assert.equal(claims.length, new Set(claims).size, 'no call claimed twice');
  assert.equal(claims.length, onA.length);
});

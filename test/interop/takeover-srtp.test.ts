/**
 * An SRTP call taken over, as deployed: baresip (`srtp-mand`, RFC 4568 SDES, libre's SRTP) calls
 * through real Kamailio into two `patchbay start` nodes whose trunk requires SRTP and whose
 * cluster shares a `snapshotSecret` (media in a worker thread, as by default), with a real Redis
 * and a Twilio bot streaming a tone. The node carrying the call is killed with SIGKILL, and the
 * other carries it on from its sealed
 * snapshot: its re-INVITE reaches baresip through Kamailio, baresip goes on decoding the bot's
 * tone, and the bot gets a new `start` (same callSid, marked resumed) and hears baresip's tone
 * again through the continued SRTP. baresip's BYE then ends the call on the surviving node,
 * with one record that names the takeover. Redis never held an SDES key in the clear.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { metricSum, scrapeMetrics } from '../../bench/lib/metrics.js';
import { tonePower } from '../helpers/audio.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { type Baresip, decodedAudio, freeSipPorts, startBaresip } from './helpers/baresip.js';
import {
  type LoopbackCluster,
  startLoopbackCluster,
  takeoverClusterOptions,
} from './helpers/loopback-cluster.js';
import { joinedAudio, TestBot } from './helpers/test-bot.js';
import { waitFor } from './helpers/wait-for.js';

const skip = skipUnlessPresent(
  ['kamailio', 'redis-server'].every((command) => commandAvailable(command, ['-v'])) &&
    commandAvailable('baresip', ['-h']) &&
    commandAvailable('sox', ['--version']),
  'needs kamailio, redis-server, baresip and sox',
);
const DEAD_AFTER_MS = 1500;
const CALLER_TONE_HZ = 440;
const BOT_TONE_HZ = 1000;
/** baresip hangs up this long after it starts: past the kill and the takeover, with margin. */
const CALL_SECONDS = 16;
const SECRET = 'takeover-interop-snapshot-secret-0123456789';

let cluster: LoopbackCluster | undefined;
let bot: TestBot | undefined;
let ua: Baresip | undefined;
let home: string | undefined;

before(async () => {
  if (skip) return;
  bot = await TestBot.start({ stream: { frequency: BOT_TONE_HZ } });
  cluster = await startLoopbackCluster({
    ...takeoverClusterOptions(bot.url, DEAD_AFTER_MS),
    trunkEncryption: 'required',
    snapshotSecret: SECRET,
    // As deployed by default, media in a worker thread: the SRTP position comes in its reports.
    mediaWorkers: 1,
  });
  home = mkdtempSync(join(tmpdir(), 'patchbay-takeover-srtp-'));
});

after(async () => {
  ua?.child.kill();
  await ua?.exited;
  await cluster?.stop();
  await bot?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

const hears = (samples: Int16Array, sampleRate: number, tone: number, other: number): boolean =>
  tonePower(samples, sampleRate, tone) > 100 * tonePower(samples, sampleRate, other);

/** Every string Redis holds (keys, values, hash fields, members), to look for keys in the clear. */
async function everythingIn(redisUrl: string): Promise<string> {
  const redis = new Redis(redisUrl);
  try {
    const texts: string[] = [];
    for (const key of await redis.keys('*')) {
      texts.push(key);
      const type = await redis.type(key);
      if (type === 'string') texts.push((await redis.get(key)) ?? '');
      else if (type === 'hash') texts.push(...Object.entries(await redis.hgetall(key)).flat());
      else if (type === 'zset') texts.push(...(await redis.zrange(key, '0', '-1')));
      else if (type === 'set') texts.push(...(await redis.smembers(key)));
      else if (type === 'list') texts.push(...(await redis.lrange(key, 0, -1)));
    }
    return texts.join('\n');
  } finally {
    redis.disconnect();
  }
}

test('an SRTP call of a node killed with SIGKILL goes on on the other node, from its sealed snapshot', {
  skip,
  timeout: 90_000,
}, async () => {
  const live = cluster ?? assert.fail('cluster');
  const testBot = bot ?? assert.fail('bot');
  const dir = home ?? assert.fail('home');
  const startedAt = Date.now();
  ua = startBaresip({
    dir,
    sipPort: await freeSipPorts(),
    rtpBase: 52_000 + Math.floor(Math.random() * 100) * 12,
    toneHz: CALLER_TONE_HZ,
    seconds: CALL_SECONDS,
    mediaenc: 'srtp-mand',
    dumpDecoded: true,
    dial: `sip:+15551230000@${live.proxy}`,
  });
  const phone = ua;
  const output = () => `${phone.output().slice(-3000)}\n${live.output().slice(-6000)}`;
  await waitFor(
    () => (testBot.calls[0]?.callerAudio.length ?? 0) >= 100,
    'the call answered and the bot hearing baresip',
    20_000,
  );
  const first = testBot.calls[0] ?? assert.fail('a bot call');
  const listed = (await (
    await fetch(`${live.nodes.a.api}/v1/calls`, { headers: { authorization: `Bearer ${live.token}` } })
  ).json()) as { calls: Array<{ id: string; node?: string }> };
  const owner = listed.calls.find((call) => call.id === first.callSid)?.node;
  assert.ok(owner === 'node-a' || owner === 'node-b', `the call's node: ${JSON.stringify(listed)}`);
  const survivor = owner === 'node-a' ? 'b' : 'a';

  // The snapshot is in Redis, sealed: no SDES key in the clear anywhere.
  await waitFor(
    async () => (await everythingIn(live.redisUrl)).includes('sealed'),
    'the sealed snapshot',
    5_000,
  );
  const stored = await everythingIn(live.redisUrl);
  assert.doesNotMatch(stored, /inline:|a=crypto|RTP\/SAVP/);

  const killedAfterMs = Date.now() - startedAt;
  process.kill(live.pid(owner === 'node-a' ? 'node-a' : 'node-b'), 'SIGKILL');
  await waitFor(() => testBot.calls[1]?.callSid !== undefined, "a new bot stream's start", 15_000);
  const resumed = testBot.calls[1] ?? assert.fail('the resumed bot call');
  assert.equal(resumed.callSid, first.callSid, 'the same callSid');
  assert.equal(resumed.customParameters['resumed'], 'true');
  // The bot hears baresip again: node b decrypts baresip's SRTP with the carried key and ROC.
  await waitFor(() => resumed.callerAudio.length >= 100, "baresip's audio after the takeover", 15_000);
  assert.ok(
    hears(joinedAudio(resumed).subarray(25 * 160), 8000, CALLER_TONE_HZ, BOT_TONE_HZ),
    'the bot hears the caller after the takeover',
  );
  const metrics = await scrapeMetrics(live.nodes[survivor].api);
  assert.equal(metricSum(metrics, 'patchbay_takeovers_total', 'outcome="resumed"'), 1, output());

  // baresip hangs up at the end of its run: its BYE reaches the surviving node through Kamailio.
  await phone.exited;
  await waitFor(() => live.records(survivor).length >= 1, "the call's record", 10_000);
  const records = live.records(survivor) as Array<
    ReturnType<LoopbackCluster['records']>[number] & { takeover?: { node: string; fromNode: string } }
  >;
  assert.equal(records.length, 1);
  assert.equal(records[0]?.id, first.callSid);
  assert.equal(records[0]?.end.cause, 'caller_bye', output());
  assert.equal(records[0]?.takeover?.fromNode, owner);
  assert.equal(records[0]?.takeover?.node, `node-${survivor}`);

  // baresip decoded the bot's tone from the surviving node too: more of it than the node killed
  // after `killedAfterMs` could have sent (the dump holds no tone for frames it did not decode).
  const decoded = decodedAudio(dir) ?? assert.fail(`baresip dumped no decoded audio\n${output()}`);
  const window = decoded.sampleRate / 10;
  let toneWindows = 0;
  for (let at = 0; at + window <= decoded.samples.length; at += window)
    if (hears(decoded.samples.subarray(at, at + window), decoded.sampleRate, BOT_TONE_HZ, CALLER_TONE_HZ))
      toneWindows++;
  const toneSeconds = toneWindows / 10;
  console.log(
    `baresip decoded ${toneSeconds.toFixed(1)} s of the bot's tone; node ${owner} killed after ${killedAfterMs} ms`,
  );
  assert.ok(toneSeconds > killedAfterMs / 1000 + 3, `${toneSeconds} s of the bot's tone\n${output()}`);
  assert.doesNotMatch(phone.output(), /srtp.*(?:auth|replay)/i, 'baresip refused no SRTP packet');
});

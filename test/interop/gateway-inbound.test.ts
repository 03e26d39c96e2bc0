/**
 * End to end against a real `patchbay start` process: SIPp
 * places a call that plays SIPp's g711a.pcap and a DTMF '1' capture; a Twilio-protocol bot
 * receives the audio (compared with a straight decode of the capture) and the digit, plays a
 * 1 kHz tone back, and the tone is captured on SIPp's RTP port with tshark. Then /metrics
 * must have moved and the call record must be complete.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { decodeAlaw } from '../../src/media/g711.js';
import { tonePower } from '../helpers/audio.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { TwilioStrictChecker } from '../helpers/twilio-strict.js';
import { callGateway, type GatewayProcess, startGatewayProcess } from './helpers/gateway-process.js';
import { freePort } from './helpers/sipp.js';
import { joinedAudio, TestBot } from './helpers/test-bot.js';
import { captureUdp } from './helpers/tshark.js';

const skip = skipUnlessPresent(
  commandAvailable('sipp', ['-v']) && commandAvailable('tshark', ['-v']),
  'needs sipp and tshark',
);

let bot: TestBot;
let gateway: GatewayProcess;

before(async () => {
  if (skip) return;
  bot = await TestBot.start({ reply: { frequency: 1000, durationMs: 2000 } });
  gateway = await startGatewayProcess({ botUrl: bot.url });
});

after(async () => {
  if (skip) return;
  await gateway?.stop();
  await bot?.close();
});

test('SIPp uac_pcap -> patchbay start -> Twilio bot: audio and DTMF both ways', {
  skip,
  timeout: 60_000,
}, async () => {
  const mediaPort = await freePort();
  const capture = captureUdp(mediaPort, ['rtp.payload']);
  await capture.ready;
  const sipp = await callGateway(gateway, {
    scenario: 'uac_pcap',
    calls: 1,
    timeoutMs: 40_000,
    extraArgs: ['-mp', String(mediaPort)],
    to: '+15551230000',
  });
  const result = await sipp.result;
  assert.equal(result.successfulCalls, 1, `${result.errors}\n${gateway.logs().slice(-3000)}`);

  const call = bot.calls.at(-1);
  assert.ok(call, 'the bot was connected');
  await Promise.race([call.closed, delay(3000)]);
  assert.equal(call.stopped, true, 'the bot got stop');
  assert.deepEqual(TwilioStrictChecker.checkAll(call.messages), [], 'strict Twilio protocol on a real call');
  assert.deepEqual(call.digits, ['1'], 'the DTMF capture arrived once');
  const { sipFrom, ...routeParameters } = call.customParameters;
  assert.deepEqual(routeParameters, { test: 'e2e' });
  assert.match(sipFrom ?? '', /^"sipp" <sip:sipp@127\.0\.0\.1:\d+>$/, "the caller's From, for the bot");
  assert.ok(call.marks.includes('tone-done'), 'the mark came back after the tone played');
  // g711a.pcap is ~7 s of speech: at least 6 s of caller audio reached the bot, not silence.
  const audio = joinedAudio(call);
  assert.ok(audio.length >= 6 * 8000, `${audio.length} samples`);
  const energy = audio.reduce((sum, sample) => sum + Math.abs(sample), 0) / audio.length;
  assert.ok(energy > 100, `caller audio energy ${energy}`);

  const payloads = (await capture.stop()).map(([payload]) => payload ?? '');
  const toSipp = Buffer.from(payloads.join('').replace(/:/g, ''), 'hex');
  assert.ok(toSipp.length > 8000, `${toSipp.length} bytes of RTP reached SIPp`);
  const pcm = decodeAlaw(toSipp);
  assert.ok(tonePower(pcm, 8000, 1000) > 10 * tonePower(pcm, 8000, 440), 'the bot tone reached SIPp');

  const metrics = parsePrometheusTextFormat(await (await fetch(`${gateway.apiUrl}/metrics`)).text());
  const callsTotal = metrics.find((family) => family.name === 'patchbay_calls_total');
  assert.ok(
    callsTotal?.metrics.some(
      (sample) => sample.labels?.['outcome'] === 'answered' && Number(sample.value) >= 1,
    ),
  );

  const record = gateway.records().at(-1);
  assert.ok(record, 'a call record was written');
  for (const field of [
    'id',
    'sipCallId',
    'trunk',
    'from',
    'to',
    'startedAt',
    'answeredAt',
    'endedAt',
    'setupMs',
    'codec',
    'end',
    'media',
    'mos',
  ]) {
    assert.notEqual(record[field], undefined, `call record field ${field}`);
  }
  assert.equal(record['codec'], 'PCMA');
  assert.equal(record['hangupBy'], 'caller');
});

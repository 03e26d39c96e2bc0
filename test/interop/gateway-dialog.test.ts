/**
 * Dialog edge cases against a real `patchbay start` over UDP: SIPp re-INVITEs the answered
 * call without SDP, so the gateway's 200 carries the offer and the ACK the answer, and sends an
 * UPDATE with an offer before that ACK (fixtures/sipp/uac_update_glare.xml). RFC 3311 §5.2: the
 * UPDATE gets 491; once the ACK brought the answer, the next UPDATE offer gets 200. And a
 * caller whose INVITE has no SDP (fixtures/sipp/uac_delayed_offer.xml): the 200 offers, the ACK
 * answers, and the caller's audio reaches the bot. A caller that requires 100rel
 * (fixtures/sipp/uac_require_100rel.xml) is answered from 100 Trying, with no 180 or 183.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { callGateway, type GatewayProcess, startGatewayProcess } from './helpers/gateway-process.js';
import { skipWithoutSipp } from './helpers/sipp.js';
import { joinedAudio, TestBot } from './helpers/test-bot.js';

const skip = skipWithoutSipp();
const UAC_UPDATE_GLARE = join(import.meta.dirname, '../../../fixtures/sipp/uac_update_glare.xml');
const UAC_DELAYED_OFFER = join(import.meta.dirname, '../../../fixtures/sipp/uac_delayed_offer.xml');
const UAC_REQUIRE_100REL = join(import.meta.dirname, '../../../fixtures/sipp/uac_require_100rel.xml');

type CallRecordSeen = { end?: { cause?: string }; codec?: string } | undefined;

/** One SIPp call of `scenario` into a fresh gateway and bot; the bot and the call's record to check. */
async function oneCall(
  scenario: string,
  check: (bot: TestBot, record: CallRecordSeen) => void,
): Promise<void> {
  const bot = await TestBot.start();
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await startGatewayProcess({ botUrl: bot.url });
    const running = gateway;
    const sipp = await callGateway(running, { scenario, calls: 1, timeoutMs: 40_000, to: '15551230000' });
    const result = await sipp.result;
    assert.equal(result.successfulCalls, 1, `${result.errors}\n${running.logs().slice(-3000)}`);
    const record = (await running.recordsWhen((written) => written.length > 0))[0] as CallRecordSeen;
    assert.equal(record?.end?.cause, 'caller_bye');
    check(bot, record);
  } finally {
    await gateway?.stop();
    await bot.close();
  }
}

test(
  'an UPDATE offer while the offer in our 200 awaits its ACK gets 491; after the ACK one gets 200',
  {
    skip,
    timeout: 60_000,
  },
  () => oneCall(UAC_UPDATE_GLARE, (bot) => assert.equal(bot.calls.length, 1)),
);

test(
  'an INVITE without SDP: the 200 offers, the answer in the ACK starts the media',
  {
    skip,
    timeout: 60_000,
  },
  () =>
    oneCall(UAC_DELAYED_OFFER, (bot, record) => {
      const call = bot.calls[0];
      assert.ok(call, 'the bot was connected');
      // g711a.pcap is ~7 s of speech, played once the ACK answered: most of it reached the bot.
      const audio = joinedAudio(call);
      assert.ok(audio.length >= 5 * 8000, `${audio.length} samples`);
      const energy = audio.reduce((sum, sample) => sum + Math.abs(sample), 0) / audio.length;
      assert.ok(energy > 100, `caller audio energy ${energy}`);
      assert.equal(record?.codec, 'PCMA', 'the codec the ACK answered');
    }),
);

test(
  'a caller that requires 100rel is answered from 100 Trying, with no 180 or 183, and its audio reaches the bot',
  { skip, timeout: 60_000 },
  () =>
    oneCall(UAC_REQUIRE_100REL, (bot) => {
      const call = bot.calls[0];
      assert.ok(call, 'the bot was connected');
      assert.ok(joinedAudio(call).length >= 5 * 8000, 'most of the 7 s of speech');
    }),
);

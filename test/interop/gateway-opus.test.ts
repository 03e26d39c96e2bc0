/**
 * baresip offering only Opus against a real `patchbay start`: the
 * caller plays a 440 Hz tone (aufile), the gateway answers with opus and transcodes for a
 * Twilio bot (µ-law 8 kHz) that must hear 440 Hz; the bot's 1 kHz reply is encoded to Opus
 * and, captured with tshark on baresip's RTP port and decoded, must be 1 kHz.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createOpusDecoder } from '../../src/media/opus.js';
import { tonePower } from '../helpers/audio.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { freeSipPorts, startBaresip } from './helpers/baresip.js';
import { startGatewayProcess } from './helpers/gateway-process.js';
import { joinedAudio, TestBot } from './helpers/test-bot.js';
import { captureUdp } from './helpers/tshark.js';

const skip = skipUnlessPresent(
  commandAvailable('baresip', ['-h']) &&
    commandAvailable('sox', ['--version']) &&
    commandAvailable('tshark', ['-v']),
  'needs baresip, sox and tshark',
);

test('baresip (Opus only) -> patchbay start -> Twilio bot: transcoded both ways', {
  skip,
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'patchbay-baresip-'));
  const bot = await TestBot.start({ reply: { frequency: 1000, durationMs: 3000 } });
  const gateway = await startGatewayProcess({ botUrl: bot.url, codecs: ['opus', 'PCMU'] });
  const sipPort = await freeSipPorts();
  const rtpBase = 26000 + 2 * Math.floor(Math.random() * 1000);
  const toBaresip = captureUdp([rtpBase, rtpBase + 10], ['rtp.payload']);
  await toBaresip.ready;
  const baresip = startBaresip({
    dir,
    sipPort,
    rtpBase,
    toneHz: 440,
    codecs: ['opus'],
    extraConfig: ['opus_bitrate 24000', 'opus_stereo no', 'opus_sprop_stereo no'],
    seconds: 9,
    dial: `sip:+15551230000@127.0.0.1:${gateway.sipPort}`,
  });
  try {
    await baresip.exited;
    const record = (await gateway.recordsWhen((written) => written.length > 0)).at(-1);
    assert.ok(record, `a call record\n${baresip.output().slice(-2000)}`);
    assert.equal(record['codec'], 'opus');
    const call = bot.calls.at(-1);
    assert.ok(call, 'the bot was connected');
    const heard = joinedAudio(call).subarray(8000, 8000 * 4);
    assert.ok(
      tonePower(heard, 8000, 440) > 100 * tonePower(heard, 8000, 1000),
      'the bot heard the caller tone',
    );
    const payloads = (await toBaresip.stop()).map(([payload]) =>
      Buffer.from((payload ?? '').replace(/:/g, ''), 'hex'),
    );
    assert.ok(payloads.length > 100, `${payloads.length} RTP packets reached baresip`);
    const decoder = await createOpusDecoder({ sampleRate: 48000 });
    const pcm = payloads.flatMap((payload) => Array.from(decoder.decode(payload)));
    const played = Int16Array.from(pcm.slice(48000 * 0.5, 48000 * 2.5));
    assert.ok(
      tonePower(played, 48000, 1000) > 100 * tonePower(played, 48000, 440),
      'the bot tone reached baresip',
    );
  } finally {
    baresip.child.kill();
    await toBaresip.stop();
    await gateway.stop();
    await bot.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

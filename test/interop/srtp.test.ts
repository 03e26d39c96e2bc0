/**
 * SRTP with SDES against a real peer: baresip (`mediaenc srtp-mand`, libre's SRTP) calls a
 * `patchbay start` whose loopback trunk has `media.encryption: required`. The bot hears the
 * caller's 440 Hz tone and baresip (its decoded audio dumped by the sndfile module) hears the
 * bot's 1 kHz tone, while tshark on lo finds no tone in the RTP payloads on the wire. A plain
 * baresip call from 127.0.0.2 (a trunk without encryption) runs alongside as the baseline:
 * the same wire check finds its tone. A plain offer to the required trunk gets 488.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { decodeMulaw } from '../../src/media/g711.js';
import { decodeWav, encodeWav } from '../../src/media/wav.js';
import { sine, tonePower, toneShare } from '../helpers/audio.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { startGatewayProcess } from './helpers/gateway-process.js';
import { freePort } from './helpers/sipp.js';
import { type BotCall, joinedAudio, TestBot } from './helpers/test-bot.js';
import { type Capture, captureUdp } from './helpers/tshark.js';

const skip = skipUnlessPresent(
  commandAvailable('baresip', ['-h']) && commandAvailable('tshark', ['-v']),
  'needs baresip and tshark',
);

const CALLER_TONE_HZ = 440;
const BOT_TONE_HZ = 1000;
const SRTP_TAG_BYTES = 10;
const PCMU_FRAME_BYTES = 160;
const PROBE_INTERVAL_MS = 200;
const PROBE_LIMIT_MS = 20_000;

interface Baresip {
  dir: string;
  rtpBase: number;
  child: ChildProcess;
  exited: Promise<void>;
  output(): string;
}

/**
 * RTP ports for one baresip, above the gateway process's 20000-39998 so a capture of them
 * never sees the gateway's own; known before baresip starts, so the capture is ready first.
 */
function rtpRange(): number {
  return 42000 + 2 * Math.floor(Math.random() * 1000);
}

/**
 * One baresip on `address` that dials `uri` for `seconds` from RTP ports `rtpBase`..+10,
 * playing `tone`, its decoded audio dumped under its dir/dump.
 */
async function baresip(options: {
  root: string;
  name: string;
  address: string;
  rtpBase: number;
  mediaenc?: string;
  tone: string;
  uri: string;
  seconds: number;
}): Promise<Baresip> {
  const { rtpBase } = options;
  const dir = join(options.root, options.name);
  mkdirSync(join(dir, 'dump'), { recursive: true });
  const sipPort = await freePort();
  writeFileSync(
    join(dir, 'config'),
    [
      'poll_method epoll',
      `sip_listen ${options.address}:${sipPort}`,
      `net_interface ${options.address}`,
      'audio_player ausine,nil',
      `audio_source aufile,${options.tone}`,
      'audio_alert ausine,nil',
      'ausrc_srate 8000',
      'auplay_srate 8000',
      `rtp_ports ${rtpBase}-${rtpBase + 10}`,
      'module_path /usr/lib/baresip/modules',
      // mediaenc modules register before account.so reads `mediaenc=` from the accounts file.
      'module srtp.so',
      'module account.so',
      'module menu.so',
      'module g711.so',
      'module aufile.so',
      'module ausine.so',
      'module sndfile.so',
      `snd_path ${join(dir, 'dump')}`,
      '',
    ].join('\n'),
  );
  const mediaenc = options.mediaenc ? `;mediaenc=${options.mediaenc}` : '';
  writeFileSync(join(dir, 'accounts'), `<sip:a@${options.address}:${sipPort}>;regint=0${mediaenc}\n`);
  const child = spawn('baresip', ['-f', dir, '-t', String(options.seconds), '-e', `/dial ${options.uri}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { dir, rtpBase, child, exited, output: () => output };
}

/** What baresip decoded and played, from the sndfile module's `-dec.wav` dump. */
function heardByBaresip(ua: Baresip): Int16Array {
  const dump = readdirSync(join(ua.dir, 'dump')).find((name) => name.endsWith('-dec.wav'));
  assert.ok(dump, `baresip dumped its decoded audio\n${ua.output().slice(-1500)}`);
  return decodeWav(readFileSync(join(ua.dir, 'dump', dump))).samples;
}

/**
 * Waits (bounded) until `capture` prints a probe datagram sent to `port`: `ready` alone can
 * resolve before a tshark starved of CPU sees packets. The probe's 4-byte payload is no frame.
 */
async function capturing(capture: Capture, port: number): Promise<void> {
  const probe = createSocket('udp4');
  try {
    for (let waited = 0; capture.packets() === 0; waited += PROBE_INTERVAL_MS) {
      if (waited > PROBE_LIMIT_MS) assert.fail(`tshark saw nothing on port ${port}`);
      probe.send(Buffer.from('800000000000000000000000ffffffff', 'hex'), port, '127.0.0.1');
      await delay(PROBE_INTERVAL_MS);
    }
  } finally {
    probe.close();
  }
}

/** The bot call whose Twilio `start` carried `callSid`. */
function botCallOf(bot: TestBot, callSid: unknown): BotCall {
  const call = bot.calls.find((candidate) =>
    candidate.messages.some((m) => m.includes(`"callSid":"${callSid}"`)),
  );
  return call ?? assert.fail(`no bot call for ${String(callSid)}`);
}

test('baresip srtp-mand -> patchbay (encryption: required): SRTP both ways, no tone on the wire; plain RTP gets 488', {
  skip,
  timeout: 60_000,
}, async () => {
  const root = mkdtempSync(join(tmpdir(), 'patchbay-srtp-'));
  const bot = await TestBot.start({ reply: { frequency: BOT_TONE_HZ, durationMs: 4000 } });
  const gateway = await startGatewayProcess({
    botUrl: bot.url,
    codecs: ['PCMU'],
    encryption: 'required',
    // The longest CIDR wins: calls from 127.0.0.2 land on this plain trunk.
    trunks: {
      plain: [
        'name: plain',
        'inbound: { allowedCidrs: ["127.0.0.2/32"] }',
        'codecs: [PCMU]',
        'probing: { enabled: false }',
        '',
      ].join('\n'),
    },
  });
  const tone = join(root, 'tone.wav');
  writeFileSync(
    tone,
    encodeWav({ sampleRate: 8000, channels: 1, samples: sine(CALLER_TONE_HZ, 8000, 6 * 8000) }),
  );
  const uri = `sip:+15551230000@127.0.0.1:${gateway.sipPort}`;
  const agents: Baresip[] = [];
  const captures: Capture[] = [];
  try {
    // RTP towards each baresip (the carrier side of the leg); odd ports carry RTCP.
    const [secureRtp, plainRtp] = [rtpRange(), rtpRange() + 20];
    const fields = ['udp.dstport', 'rtp.payload'];
    const toSecure = captureUdp([secureRtp, secureRtp + 10], fields);
    const toPlain = captureUdp([plainRtp, plainRtp + 10], fields);
    captures.push(toSecure, toPlain);
    await Promise.all([toSecure.ready, toPlain.ready]);
    await Promise.all([capturing(toSecure, secureRtp), capturing(toPlain, plainRtp)]);
    const secureUa = await baresip({
      root,
      name: 'srtp',
      address: '127.0.0.1',
      rtpBase: secureRtp,
      mediaenc: 'srtp-mand',
      tone,
      uri,
      seconds: 6,
    });
    const plainUa = await baresip({
      root,
      name: 'plain',
      address: '127.0.0.2',
      rtpBase: plainRtp,
      tone,
      uri,
      seconds: 6,
    });
    agents.push(secureUa, plainUa);
    await delay(3000);
    const live = (await (await fetch(`${gateway.apiUrl}/v1/calls`)).json()) as {
      calls: Array<{ id: string }>;
    };
    const details = await Promise.all(
      live.calls.map(async ({ id }) => (await fetch(`${gateway.apiUrl}/v1/calls/${id}`)).text()),
    );
    await Promise.all([secureUa.exited, plainUa.exited]);

    const records = await gateway.recordsWhen((written) =>
      ['local', 'plain'].every((trunk) => written.some((record) => record['trunk'] === trunk)),
    );
    const secure = records.find((record) => record['trunk'] === 'local');
    const plain = records.find((record) => record['trunk'] === 'plain');
    assert.ok(secure && plain, `two call records\n${secureUa.output().slice(-1500)}`);
    const srtpStats = (secure['media'] as { rtp?: { srtp?: { dropped: { auth: number } } } }).rtp?.srtp;
    // The record has the figures at the hang-up. baresip sends its last RTCP (BYE and SDES) in
    // the clear as it hangs up; unauthenticated, it is refused and counted (RFC 3711 §3.4) when
    // it arrives before the gateway has closed the leg.
    assert.ok(
      (srtpStats?.dropped.auth ?? -1) <= 1,
      `at most baresip's clear RTCP BYE refused: ${JSON.stringify(srtpStats)}`,
    );
    assert.deepEqual(srtpStats, {
      suite: 'AES_CM_128_HMAC_SHA1_80',
      dropped: { unkeyed: 0, auth: srtpStats?.dropped.auth, replay: 0, expired: 0 },
    });
    assert.equal((plain['media'] as { rtp?: { srtp?: unknown } }).rtp?.srtp, undefined);

    // Both ends hear each other through SRTP.
    const callerHeard = joinedAudio(botCallOf(bot, secure['id']));
    const botHeard = heardByBaresip(secureUa);
    assert.ok(
      tonePower(callerHeard, 8000, CALLER_TONE_HZ) > 100 * tonePower(callerHeard, 8000, BOT_TONE_HZ),
      'the bot heard the caller tone',
    );
    assert.ok(
      tonePower(botHeard, 8000, BOT_TONE_HZ) > 100 * tonePower(botHeard, 8000, CALLER_TONE_HZ),
      'baresip heard the bot tone',
    );

    // On the wire: the SRTP payloads (frame + 10-byte tag) hide the tone, the baseline shows it.
    const payloads = async (capture: Capture, bytes: number) =>
      (await capture.stop({ untilQuiet: true }))
        .filter(([port]) => Number(port) % 2 === 0)
        .map(([, payload]) => Buffer.from((payload ?? '').replace(/:/g, ''), 'hex'))
        .filter((payload) => payload.length === bytes);
    const secureWire = await payloads(toSecure, PCMU_FRAME_BYTES + SRTP_TAG_BYTES);
    const plainWire = await payloads(toPlain, PCMU_FRAME_BYTES);
    assert.ok(secureWire.length > 100, `${secureWire.length} SRTP packets towards baresip`);
    assert.ok(plainWire.length > 100, `${plainWire.length} RTP packets towards the plain baresip`);
    const asMulaw = (wire: Buffer[]) =>
      decodeMulaw(Buffer.concat(wire.slice(25, 125).map((payload) => payload.subarray(0, PCMU_FRAME_BYTES))));
    const secureShare = toneShare(asMulaw(secureWire), BOT_TONE_HZ);
    const plainShare = toneShare(asMulaw(plainWire), BOT_TONE_HZ);
    console.log(
      `bot tone share of the wire payloads: SRTP ${secureShare.toExponential(2)}, plain ${plainShare.toFixed(3)}`,
    );
    assert.ok(plainShare > 0.2, 'the baseline finds the tone in plain RTP');
    assert.ok(secureShare < 0.01, 'no tone in the SRTP payloads');

    // A plain offer to the required trunk: 488, ended encryption_mismatch.
    const refused = await baresip({
      root,
      name: 'refused',
      address: '127.0.0.1',
      rtpBase: rtpRange() + 40,
      tone,
      uri,
      seconds: 2,
    });
    agents.push(refused);
    await refused.exited;
    const isMismatch = (record: Record<string, unknown>): boolean =>
      (record['end'] as { cause?: string } | undefined)?.cause === 'encryption_mismatch';
    const mismatch = (await gateway.recordsWhen((written) => written.some(isMismatch))).find(isMismatch);
    assert.ok(mismatch, `the plain offer was refused\n${refused.output().slice(-1500)}`);
    assert.equal((mismatch['end'] as { sipStatus?: number } | undefined)?.sipStatus, 488);
    const metrics = await (await fetch(`${gateway.apiUrl}/metrics`)).text();
    assert.match(metrics, /patchbay_calls_total\{[^}]*outcome="encryption_mismatch"[^}]*\} 1/);

    // No key material in logs, records or the live call detail.
    const everything = [gateway.logs(), readFileSync(gateway.recordsFile, 'utf8'), ...details].join('\n');
    assert.ok(
      details.some((detail) => detail.includes('"suite":"AES_CM_128_HMAC_SHA1_80"')),
      'the live call detail names the suite',
    );
    assert.doesNotMatch(everything, /inline:|[A-Za-z0-9+/]{40}/);
  } finally {
    for (const agent of agents) agent.child.kill();
    await Promise.all(captures.map((capture) => capture.stop()));
    await gateway.stop();
    await bot.close();
    rmSync(root, { recursive: true, force: true });
  }
});

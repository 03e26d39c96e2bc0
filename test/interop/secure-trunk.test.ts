/**
 * A carrier trunk as it is in the wild, end to end against a real `patchbay start`: SIP over
 * mutual TLS (a throwaway PKI; the listener asks for client certificates) with SRTP/SDES
 * required, towards a Twilio bot. Inbound, baresip (`mediaenc srtp-mand`, presenting its
 * certificate) calls in; outbound, `POST /v1/calls` dials a baresip that answers over TLS with
 * SRTP, taking the first suite of the trunk's `srtpSuites` it runs (`AEAD_AES_256_GCM`, RFC 7714,
 * listed first). Each time the bot hears the carrier's 440 Hz and baresip decodes the bot's
 * 1 kHz, while one tshark on `lo` finds no SIP in clear on either TLS port and, in the RTP
 * payloads, only SRTP (frame + 10-byte tag inbound, + 16-byte GCM tag outbound) in which
 * neither tone shows as G.711; no packet of the GCM call fails authentication. A client without a
 * certificate is refused at the handshake, one whose certificate names another host with 403;
 * a plain-RTP offer over TLS gets 488.
 * (srtp.test.ts has the plain-RTP baseline of the wire check; sip-tls.test.ts certificate rotation.)
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { connect } from 'node:tls';
import type { CallRecord } from '../../src/gateway/call-record.js';
import { decodeMulaw } from '../../src/media/g711.js';
import type { WavAudio } from '../../src/media/wav.js';
import { tonePower, toneShare } from '../helpers/audio.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { type Leaf, opensslAvailable, TestPki } from '../helpers/test-pki.js';
import { type Baresip, decodedAudio, freeSipPorts, startBaresip } from './helpers/baresip.js';
import { type GatewayProcess, placeCall, startGatewayProcess } from './helpers/gateway-process.js';
import { type BotCall, joinedAudio, TestBot } from './helpers/test-bot.js';
import { type Capture, captureLoopback, readTlsPayloads } from './helpers/tshark.js';

const skip = skipUnlessPresent(
  opensslAvailable &&
    commandAvailable('baresip', ['-h']) &&
    commandAvailable('sox', ['--version']) &&
    commandAvailable('tshark', ['-v']),
  'needs openssl, baresip, sox and tshark',
);

const CARRIER_TONE_HZ = 440;
const BOT_TONE_HZ = 1000;
const PCMU_FRAME_BYTES = 160;
/** AES_CM_128_HMAC_SHA1_80's tag (RFC 4568 §6.2.1). */
/** The inbound call's suite (baresip offers `_80`) and the outbound call's (our `srtpSuites` lead with GCM). */
const SRTP_TAG_BYTES = { AES_CM_128_HMAC_SHA1_80: 10, AEAD_AES_256_GCM: 16 } as const;

/** `what` may be a function, for a message with the state at the time it failed. */
async function until(
  condition: () => boolean,
  what: string | (() => string),
  timeoutMs = 15_000,
): Promise<void> {
  for (let waited = 0; !condition(); waited += 100) {
    if (waited >= timeoutMs)
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await delay(100);
  }
}

/** A base for one baresip's 11 RTP ports, above the gateway's 20000-39998. */
function rtpPorts(slot: number): number {
  return 41000 + 60 * Math.floor(Math.random() * 300) + 20 * slot;
}

/** `tone` clearly dominates `other` in `audio`. */
function hears(audio: { samples: Int16Array; sampleRate: number }, tone: number, other: number): boolean {
  const { samples, sampleRate } = audio;
  return tonePower(samples, sampleRate, tone) > 100 * tonePower(samples, sampleRate, other);
}

/** The bot call whose Twilio `start` carried `callSid`. */
function botCallOf(bot: TestBot, callSid: string): BotCall | undefined {
  return bot.calls.find((call) => call.messages.some((m) => m.includes(`"callSid":"${callSid}"`)));
}

describe('secure carrier trunk (mutual TLS + SRTP) with patchbay start', { skip, timeout: 90_000 }, () => {
  let pki: TestPki;
  let dir: string;
  let bot: TestBot;
  let gateway: GatewayProcess;
  let carrier: Leaf;
  let carrierSipPort: number;
  const rtp = [rtpPorts(0), rtpPorts(1)] as const;
  let wire: Capture;
  const agents: Baresip[] = [];
  /** The carrier that answers our outbound call, holding its ports from the start. */
  let answering: { ua: Baresip; home: string };

  before(async () => {
    pki = TestPki.create();
    dir = mkdtempSync(join(tmpdir(), 'patchbay-secure-trunk-'));
    const leaf = pki.issue('patchbay', { san: ['DNS:localhost', 'IP:127.0.0.1'] });
    carrier = pki.issue('carrier', { san: ['IP:127.0.0.1'] });
    carrierSipPort = await freeSipPorts();
    answering = await carrierUa('outbound', {
      sipPort: carrierSipPort,
      rtpBase: rtp[1],
      seconds: 80,
      answer: true,
      user: '+15551230000',
    });
    const { ua } = answering;
    await until(
      () => ua.output().includes('baresip is ready'),
      () => `baresip to start\n${ua.output().slice(-1500)}`,
    );
    bot = await TestBot.start({ reply: { frequency: BOT_TONE_HZ, durationMs: 6000 } });
    gateway = await startGatewayProcess({
      botUrl: bot.url,
      codecs: ['PCMU'],
      encryption: 'required',
      inboundTransports: ['tls'],
      // The carrier's certificate names its address: mutual TLS takes calls from it alone.
      tlsClientNames: ['127.0.0.1'],
      tls: {
        certFile: leaf.certFile,
        keyFile: leaf.keyFile,
        caFile: pki.ca.certFile,
        requireClientCert: true,
      },
      trunks: {
        carrier: [
          'name: carrier',
          'outbound:',
          '  gateways:',
          `    - { name: tls, host: 127.0.0.1, port: ${carrierSipPort + 1}, transport: tls, tlsCaFile: ${JSON.stringify(pki.ca.certFile)} }`,
          'codecs: [PCMU]',
          'media: { encryption: required, srtpSuites: [AEAD_AES_256_GCM, AES_CM_128_HMAC_SHA1_80] }',
          'probing: { enabled: false }',
          '',
        ].join('\n'),
      },
    });
    // One tshark for the file (it takes seconds to start): both TLS ports, and the RTP between
    // the gateway and the baresips (not that of other processes on the machine).
    const ranges = rtp.map((base) => `${base}-${base + 10}`);
    const [rtpMin, rtpMax] = gateway.rtpPorts;
    const media = `(${ranges.map((range) => `udp portrange ${range}`).join(' or ')}) and udp portrange ${rtpMin}-${rtpMax}`;
    wire = captureLoopback(
      `tcp port ${gateway.tlsPort} or tcp port ${carrierSipPort + 1} or (${media})`,
      ['tcp.payload', 'udp.srcport', 'udp.dstport', 'rtp.payload'],
      ranges.flatMap((range) => ['-d', `udp.port==${range},rtp`]),
      gateway.tlsPort,
    );
    await wire.ready;
  });

  after(async () => {
    for (const agent of agents) agent.child.kill();
    await Promise.all(agents.map((agent) => agent.exited));
    await wire?.stop();
    await gateway?.stop();
    await bot?.close();
    pki?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const records = (): CallRecord[] => gateway.records() as unknown as CallRecord[];

  /** A baresip in its own directory under `dir`, with the carrier's certificate for TLS. */
  async function carrierUa(
    name: string,
    options: Partial<Parameters<typeof startBaresip>[0]>,
    mediaenc: string | false = 'srtp-mand',
  ) {
    const home = join(dir, name);
    mkdirSync(home);
    const ua = startBaresip({
      dir: home,
      sipPort: await freeSipPorts(),
      rtpBase: rtp[0],
      toneHz: CARRIER_TONE_HZ,
      seconds: 6,
      tls: { caFile: pki.ca.certFile, certificatePem: `${carrier.cert}${carrier.key}` },
      ...(mediaenc ? { mediaenc } : {}),
      dumpDecoded: true,
      ...options,
    });
    agents.push(ua);
    return { ua, home };
  }

  /** What baresip decoded, once it has exited (its dump is complete then). */
  function heardBy(home: string, ua: Baresip): WavAudio {
    return decodedAudio(home) ?? assert.fail(`baresip dumped no decoded audio\n${ua.output().slice(-1500)}`);
  }

  /** The call's carrier leg ran SRTP: its record names the suite. */
  /** The record's SRTP suite, and how many packets failed authentication. */
  function srtpOf(record: CallRecord | undefined): { suite?: string; authDrops?: number } {
    const srtp = (
      record?.media as { rtp?: { srtp?: { suite: string; dropped: { auth: number } } } } | undefined
    )?.rtp?.srtp;
    return { ...(srtp ? { suite: srtp.suite, authDrops: srtp.dropped.auth } : {}) };
  }

  it('inbound: baresip over mutual TLS with srtp-mand reaches the bot, audio both ways', async () => {
    const { ua, home } = await carrierUa('inbound', {
      rtpBase: rtp[0],
      dial: `sip:+15551230000@127.0.0.1:${gateway.tlsPort};transport=tls`,
    });
    await ua.exited;
    await until(() => records().some((r) => r.direction === 'inbound'), 'the call record');
    const record = records().find((r) => r.direction === 'inbound');
    assert.equal(record?.end.cause, 'caller_bye', ua.output().slice(-2000));
    // Not held to zero drops: as it hangs up, baresip (libre 1.1) sends its last RTCP (BYE and
    // SDES) in the clear, which SRTCP must drop as unauthenticated.
    assert.equal(srtpOf(record).suite, 'AES_CM_128_HMAC_SHA1_80');
    const call = botCallOf(bot, record?.id ?? '') ?? assert.fail('the bot was connected');
    assert.ok(
      hears({ samples: joinedAudio(call).subarray(8000), sampleRate: 8000 }, CARRIER_TONE_HZ, BOT_TONE_HZ),
      'the bot heard the caller',
    );
    assert.ok(hears(heardBy(home, ua), BOT_TONE_HZ, CARRIER_TONE_HZ), 'baresip heard the bot');
  });

  it('outbound: POST /v1/calls over TLS with SRTP to a baresip that answers, audio both ways', async () => {
    const { ua, home } = answering;
    const id = await placeCall(gateway, 'carrier', { streamUrl: bot.url });
    await until(() => (botCallOf(bot, id)?.callerAudio.length ?? 0) > 150, '3 s of carrier audio at the bot');
    const hangup = await fetch(`${gateway.apiUrl}/v1/calls/${id}`, { method: 'DELETE' });
    assert.equal(hangup.status, 204);
    await until(
      () => /terminated|closed/i.test(ua.output()),
      () => `baresip to see the BYE\n${ua.output().slice(-1500)}`,
    );
    ua.child.kill();
    await ua.exited;
    await until(() => records().some((r) => r.id === id), 'the call record');
    const record = records().find((r) => r.id === id);
    assert.equal(record?.end.cause, 'api_hangup');
    // GCM both ways: every packet baresip protected authenticated here, but for at most one: the
    // last RTCP that libre 1.1 sends in the clear as it takes our BYE, when it lands before the
    // leg closes (a race; dropped as unauthenticated, as it must be).
    const srtp = srtpOf(record);
    assert.equal(srtp.suite, 'AEAD_AES_256_GCM');
    assert.ok((srtp.authDrops ?? 0) <= 1, `${srtp.authDrops} packets failed authentication`);
    const call = botCallOf(bot, id) as BotCall;
    assert.ok(
      hears({ samples: joinedAudio(call).subarray(8000), sampleRate: 8000 }, CARRIER_TONE_HZ, BOT_TONE_HZ),
      'the bot heard the carrier',
    );
    assert.ok(hears(heardBy(home, ua), BOT_TONE_HZ, CARRIER_TONE_HZ), 'baresip heard the bot');
  });

  it('refuses a TLS client without a certificate, and a plain-RTP offer over TLS with 488', async () => {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect({
        host: '127.0.0.1',
        port: gateway.tlsPort,
        ca: pki.ca.cert,
        servername: 'localhost',
      });
      // TLS 1.3: the client finishes first; the server's alert then ends the connection.
      socket.once('error', () => resolve(true));
      socket.once('close', () => resolve(true));
      socket.once('data', () => resolve(false));
      setTimeout(() => {
        socket.destroy();
        resolve(false);
      }, 5000);
    });
    assert.ok(refused, 'the connection without a client certificate was closed');
    const certificateFailures = async (): Promise<number> => {
      const metrics = await (await fetch(`${gateway.apiUrl}/metrics`)).text();
      const line = metrics
        .split('\n')
        .find(
          (l) =>
            l.startsWith('patchbay_sip_tls_handshake_failures_total{') &&
            l.includes('direction="inbound"') &&
            l.includes('reason="certificate"'),
        );
      return Number(line?.split(' ').at(-1) ?? 0);
    };
    let failures = 0;
    for (let tries = 0; failures === 0 && tries < 20; tries++) {
      failures = await certificateFailures();
      if (failures === 0) await delay(100);
    }
    assert.ok(failures > 0, 'counted as a handshake failure for the certificate');

    const plainOffer = {
      rtpBase: rtp[0],
      seconds: 3,
      dial: `sip:+15551230000@127.0.0.1:${gateway.tlsPort};transport=tls`,
    };
    const { ua } = await carrierUa('plain', plainOffer, false);
    await ua.exited;
    await until(
      () => records().some((r) => r.end.cause === 'encryption_mismatch'),
      () => `the plain offer to be refused\n${ua.output().slice(-1500)}`,
    );
    const mismatch = records().find((r) => r.end.cause === 'encryption_mismatch');
    assert.equal(mismatch?.end.sipStatus, 488);
  });

  it('refuses with 403 a caller whose certificate the CA signed for another host (it names none of the trunk)', async () => {
    const other = pki.issue('other', { san: ['DNS:other.example'] });
    const socket = connect({
      host: '127.0.0.1',
      port: gateway.tlsPort,
      ca: pki.ca.cert,
      servername: 'localhost',
      cert: other.cert,
      key: other.key,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
      const final = new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString('latin1');
          const status = /^SIP\/2\.0 [2-6]\d\d [^\r]*/m.exec(text);
          if (status) resolve(status[0]);
        });
      });
      const local = `127.0.0.1:${socket.localPort}`;
      socket.write(
        [
          `INVITE sip:+15551230000@127.0.0.1:${gateway.tlsPort};transport=tls SIP/2.0`,
          `Via: SIP/2.0/TLS ${local};branch=z9hG4bK-other-host`,
          'Max-Forwards: 70',
          `From: <sip:other@${local}>;tag=1`,
          'To: <sip:+15551230000@127.0.0.1>',
          'Call-ID: other-host@secure-trunk',
          'CSeq: 1 INVITE',
          `Contact: <sip:other@${local};transport=tls>`,
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
      );
      assert.match(await final, /^SIP\/2\.0 403 /);
    } finally {
      socket.destroy();
    }
  });

  it('on the wire: no SIP in clear on the TLS ports, only SRTP in which no tone shows as G.711', async () => {
    const rows = await wire.stop({ untilQuiet: true });
    const tls = readTlsPayloads(rows.flatMap(([payload]) => (payload ? [payload] : [])));
    assert.ok(tls.handshakes > 0, 'the capture saw handshakes');
    assert.ok(tls.applicationData >= 10, 'TLS application data on the TLS ports (both calls)');
    assert.equal(tls.plaintextSip, 0, 'no SIP in clear on the TLS ports');
    // RTP proper on the even ports (odd ones carry SRTCP), in both directions.
    const media = rows
      .filter(
        ([, source, destination, payload]) =>
          payload && Number(source) % 2 === 0 && Number(destination) % 2 === 0,
      )
      .map(([, , , payload]) => Buffer.from((payload ?? '').replace(/:/g, ''), 'hex'));
    const sizes = Object.values(SRTP_TAG_BYTES).map((tag) => PCMU_FRAME_BYTES + tag);
    const srtp = media.filter((payload) => sizes.includes(payload.length));
    for (const size of sizes) {
      const count = srtp.filter((payload) => payload.length === size).length;
      assert.ok(count > 200, `${count} SRTP packets of ${size} bytes (one call, both ways)`);
    }
    const others = media.filter((payload) => !sizes.includes(payload.length));
    assert.deepEqual(
      [...new Set(others.map((payload) => payload.length))],
      [],
      'no RTP payload of another size (plain PCMU is 160 bytes)',
    );
    const asMulaw = decodeMulaw(Buffer.concat(srtp.map((payload) => payload.subarray(0, PCMU_FRAME_BYTES))));
    const shares = [CARRIER_TONE_HZ, BOT_TONE_HZ].map((tone) => toneShare(asMulaw, tone));
    console.log(
      `${srtp.length} SRTP packets; tone shares as G.711: ${shares.map((x) => x.toExponential(2)).join(', ')}`,
    );
    for (const [index, tone] of [CARRIER_TONE_HZ, BOT_TONE_HZ].entries()) {
      const share = shares[index] ?? 1;
      assert.ok(share < 0.01, `${tone} Hz is ${share.toExponential(2)} of the SRTP payloads as G.711`);
    }
  });
});

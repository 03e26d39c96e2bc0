/**
 * SIP over TLS against a real `patchbay start` with a throwaway PKI, one gateway process for
 * the file. baresip calls in over TLS (plain RTP): the Twilio bot answers and audio flows both
 * ways, while tshark on `lo` sees only TLS records on the TLS port; the loopback trunk takes
 * TLS only, so an INVITE over UDP gets 403. Certificates renewed on disk plus SIGHUP: a new
 * connection gets the new certificate while the call in progress keeps its media and ends
 * normally. `POST /v1/calls` dials baresip as a TLS carrier that answers at once; the API
 * hangup's BYE reaches it.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { connect, type TLSSocket } from 'node:tls';
import type { CallRecord } from '../../src/gateway/call-record.js';
import { decodeMulaw } from '../../src/media/g711.js';
import { concatPcm, tonePower } from '../helpers/audio.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { type Leaf, opensslAvailable, TestPki } from '../helpers/test-pki.js';
import { freeSipPorts, startBaresip } from './helpers/baresip.js';
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

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  for (let waited = 0; !condition(); waited += 100) {
    if (waited >= timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await delay(100);
  }
}

/** A base for baresip's 11 RTP ports, away from the gateway's range. */
function rtpPorts(): number {
  return 41000 + 20 * Math.floor(Math.random() * 500);
}

/** PCMU payloads as tshark prints them, decoded end to end. */
function decodedPcmu(payloads: string[]): Int16Array {
  return concatPcm(payloads.map((payload) => decodeMulaw(Buffer.from(payload.replace(/:/g, ''), 'hex'))));
}

describe('SIP over TLS with patchbay start', { skip, timeout: 90_000 }, () => {
  let pki: TestPki;
  let dir: string;
  let bot: TestBot;
  let gateway: GatewayProcess;
  let carrier: Leaf;
  let carrierSipPort: number;

  before(async () => {
    pki = TestPki.create();
    dir = mkdtempSync(join(tmpdir(), 'patchbay-sip-tls-'));
    mkdirSync(join(dir, 'certs'));
    const leaf = pki.issue('patchbay', { san: ['DNS:localhost', 'IP:127.0.0.1'] });
    copyFileSync(leaf.certFile, join(dir, 'certs', 'gateway.crt'));
    copyFileSync(leaf.keyFile, join(dir, 'certs', 'gateway.key'));
    carrier = pki.issue('carrier', { san: ['IP:127.0.0.1'] });
    carrierSipPort = await freeSipPorts();
    bot = await TestBot.start({ reply: { frequency: 1000, durationMs: 4000 } });
    gateway = await startGatewayProcess({
      botUrl: bot.url,
      codecs: ['PCMU'],
      tls: { certFile: join(dir, 'certs', 'gateway.crt'), keyFile: join(dir, 'certs', 'gateway.key') },
      inboundTransports: ['tls'],
      trunks: {
        carrier: [
          'name: carrier',
          'outbound:',
          '  gateways:',
          `    - { name: tls, host: 127.0.0.1, port: ${carrierSipPort + 1}, transport: tls, tlsCaFile: ${JSON.stringify(pki.ca.certFile)} }`,
          'codecs: [PCMU]',
          'probing: { enabled: false }',
          '',
        ].join('\n'),
      },
    });
  });

  /** The gateway's call records (JSON lines of CallRecord). */
  const records = (): CallRecord[] => gateway.records() as unknown as CallRecord[];

  after(async () => {
    await gateway?.stop();
    await bot?.close();
    pki?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** baresip calling the gateway over TLS for `seconds`, then hanging up, once `capture` is ready. */
  async function tlsCaller(name: string, seconds: number, rtpBase: number, capture?: Capture) {
    const home = join(dir, name);
    mkdirSync(home);
    await capture?.ready;
    const baresip = startBaresip({
      dir: home,
      sipPort: await freeSipPorts(),
      rtpBase,
      toneHz: 440,
      seconds,
      dial: `sip:+15551230000@127.0.0.1:${gateway.tlsPort};transport=tls`,
      tls: { caFile: pki.ca.certFile },
    });
    return baresip;
  }

  it('answers a call from baresip over TLS with audio both ways and no plaintext SIP on the TLS port', async () => {
    // One tshark for both (it takes seconds to start): the TLS port, and RTP towards baresip.
    const rtpBase = rtpPorts();
    const rtpRange = `${rtpBase}-${rtpBase + 10}`;
    const wire = captureLoopback(
      `tcp port ${gateway.tlsPort} or udp dst portrange ${rtpRange}`,
      ['tcp.payload', 'rtp.payload'],
      ['-d', `udp.port==${rtpRange},rtp`],
      gateway.tlsPort,
    );
    const calls = bot.calls.length;
    const recordsBefore = records().length;
    const caller = await tlsCaller('inbound', 4, rtpBase, wire);
    await caller.exited;
    await delay(500);
    const rows = await wire.stop();
    await gateway.recordsWhen((written) => written.length > recordsBefore);
    const record = records().at(-1);
    assert.equal(record?.direction, 'inbound', caller.output().slice(-2000));
    assert.equal(record?.end.cause, 'caller_bye');
    assert.equal(record?.codec, 'PCMU');
    const call = bot.calls[calls];
    assert.ok(call, 'the bot was connected');
    const heard = joinedAudio(call).subarray(8000, 8000 * 3);
    assert.ok(tonePower(heard, 8000, 440) > 100 * tonePower(heard, 8000, 1000), 'the bot heard the caller');
    const rtp = rows.flatMap(([, payload]) => (payload ? [payload] : []));
    const played = decodedPcmu(rtp).subarray(4000, 8000 * 3);
    assert.ok(tonePower(played, 8000, 1000) > 100 * tonePower(played, 8000, 440), 'baresip heard the bot');
    const tls = readTlsPayloads(rows.flatMap(([payload]) => (payload ? [payload] : [])));
    assert.ok(tls.handshakes > 0, 'the capture saw the handshake');
    assert.ok(
      tls.applicationData >= 4,
      'TLS records of application data (INVITE, 180, 200, ACK, BYE...) on the TLS port',
    );
    assert.equal(tls.plaintextSip, 0, 'no SIP in clear on the TLS port');
  });

  it('refuses an INVITE over UDP from the trunk that takes TLS only (403, its unknown-source action)', async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const port = socket.address().port;
    const final = new Promise<string>((resolve) =>
      socket.on('message', (data) => {
        const text = data.toString();
        if (!text.startsWith('SIP/2.0 1')) resolve(text);
      }),
    );
    socket.send(
      [
        'INVITE sip:+15551230000@127.0.0.1 SIP/2.0',
        `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-udp-refused;rport`,
        'Max-Forwards: 70',
        'From: <sip:a@127.0.0.1>;tag=1',
        'To: <sip:+15551230000@127.0.0.1>',
        'Call-ID: udp-refused@sip-tls',
        'CSeq: 1 INVITE',
        `Contact: <sip:a@127.0.0.1:${port}>`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      gateway.sipPort,
      '127.0.0.1',
    );
    try {
      assert.match(await final, /^SIP\/2\.0 403 /);
    } finally {
      socket.close();
    }
  });

  it('presents renewed certificates to new connections after SIGHUP while the call in progress keeps its media', async () => {
    const calls = bot.calls.length;
    const recordsBefore = records().length;
    const caller = await tlsCaller('rotation', 6, rtpPorts());
    await until(() => (bot.calls[calls]?.callerAudio.length ?? 0) > 25, 'the call to be up');
    const call = bot.calls[calls] as BotCall;
    const renewed = pki.issue('renewed', { san: ['DNS:localhost', 'IP:127.0.0.1'] });
    copyFileSync(renewed.certFile, join(dir, 'certs', 'gateway.crt'));
    copyFileSync(renewed.keyFile, join(dir, 'certs', 'gateway.key'));
    gateway.child.kill('SIGHUP');
    await until(() => gateway.logs().includes('sip tls certificate reloaded'), 'the reload');
    const framesAtReload = call.callerAudio.length;

    const fresh = await new Promise<TLSSocket>((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port: gateway.tlsPort,
        ca: pki.ca.cert,
        servername: 'localhost',
      });
      socket.once('secureConnect', () => resolve(socket));
      socket.once('error', reject);
    });
    const presented = fresh.getPeerX509Certificate();
    fresh.destroy();
    assert.equal(presented?.serialNumber, renewed.serial);
    assert.equal(presented?.fingerprint256, new X509Certificate(renewed.cert).fingerprint256);

    await caller.exited;
    await gateway.recordsWhen((written) => written.length > recordsBefore);
    assert.equal(records().at(-1)?.end.cause, 'caller_bye', 'the call ended normally');
    assert.ok(
      call.callerAudio.length - framesAtReload > 100,
      `${call.callerAudio.length - framesAtReload} frames of caller audio after the reload`,
    );
  });

  it('dials a TLS carrier through POST /v1/calls (baresip answering over TLS) and hangs up over the same connection', async () => {
    const home = join(dir, 'carrier');
    mkdirSync(home);
    const carrierUa = startBaresip({
      dir: home,
      sipPort: carrierSipPort,
      rtpBase: rtpPorts(),
      toneHz: 440,
      seconds: 15,
      answer: true,
      user: '+15551230000',
      tls: { caFile: pki.ca.certFile, certificatePem: `${carrier.cert}${carrier.key}` },
    });
    try {
      await until(() => carrierUa.output().includes('baresip is ready'), 'baresip to start');
      const calls = bot.calls.length;
      const id = await placeCall(gateway, 'carrier', { streamUrl: bot.url });
      await until(() => (bot.calls[calls]?.callerAudio.length ?? 0) > 75, 'carrier audio at the bot');
      const heard = joinedAudio(bot.calls[calls] as BotCall).subarray(2000);
      assert.ok(
        tonePower(heard, 8000, 440) > 100 * tonePower(heard, 8000, 1000),
        'the bot heard the carrier',
      );
      const hangup = await fetch(`${gateway.apiUrl}/v1/calls/${id}`, { method: 'DELETE' });
      assert.equal(hangup.status, 204);
      await until(() => records().some((r) => r.id === id), 'the call record');
      const record = records().find((r) => r.id === id);
      assert.equal(record?.end.cause, 'api_hangup');
      assert.deepEqual(
        record?.attempts.map((a) => [a.gateway, a.outcome]),
        [['carrier/tls', '200']],
      );
      await until(() => /terminated|closed/i.test(carrierUa.output()), 'baresip to see the BYE', 5_000);
    } finally {
      carrierUa.child.kill();
      await carrierUa.exited;
    }
  });
});

/**
 * Bad input against a real `patchbay start` while a call is up (bad input
 * never crashes the process and never loses a call in progress). SIPp plays a caller
 * (g711a.pcap, 8 s, then BYE) while another loopback address throws at the gateway:
 * seeded byte mutations of the RFC 4475 messages and of an INVITE over UDP, the same over a
 * TCP connection plus an endless header line, and random datagrams at every port of the RTP
 * range. The call must finish normally with its audio at the bot, the process must keep
 * answering, and a fresh call afterwards must work.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { seededRandom } from '../../src/util/index.js';
import { callGateway, type GatewayProcess, startGatewayProcess } from './helpers/gateway-process.js';
import { skipWithoutSipp } from './helpers/sipp.js';
import { TestBot } from './helpers/test-bot.js';

const skip = skipWithoutSipp();
const RFC4475 = join(import.meta.dirname, '../../../fixtures/sip/rfc4475');
/** The attacker's address: another loopback address, so the per-source flood limit (which
 * protects the gateway from exactly this) does not also throttle the legitimate caller. */
const HOSTILE = '127.0.0.2';

function seeds(sipPort: number): Buffer[] {
  const files = ['valid', 'invalid'].flatMap((kind) =>
    readdirSync(join(RFC4475, kind)).map((name) => readFileSync(join(RFC4475, kind, name))),
  );
  const invite = Buffer.from(
    [
      `INVITE sip:+15551230000@127.0.0.1:${sipPort} SIP/2.0`,
      `Via: SIP/2.0/UDP ${HOSTILE}:5999;branch=z9hG4bK-hostile`,
      'Max-Forwards: 70',
      'From: <sip:x@127.0.0.2>;tag=1',
      'To: <sip:+15551230000@127.0.0.1>',
      'Call-ID: hostile',
      'CSeq: 1 INVITE',
      'Contact: <sip:x@127.0.0.2:5999>',
      'Content-Type: application/sdp',
      'Content-Length: 9',
      '',
      'v=0\r\no=-',
    ].join('\r\n'),
  );
  return [...files, invite];
}

/** Up to eight random bytes of `seed` overwritten, or a random cut, or pure noise. */
function mutate(seed: Buffer, random: () => number): Buffer {
  const roll = random();
  if (roll < 0.1)
    return Buffer.from(Array.from({ length: 1 + Math.floor(random() * 1400) }, () => random() * 256));
  if (roll < 0.25) return seed.subarray(0, Math.floor(random() * seed.length));
  const copy = Buffer.from(seed);
  for (let i = 0, n = 1 + Math.floor(random() * 8); i < n; i++)
    copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256);
  return copy;
}

function rtpRange(gateway: GatewayProcess): [number, number] {
  const match = /portMin: (\d+), portMax: (\d+)/.exec(readFileSync(gateway.gatewayFile, 'utf8'));
  return [Number(match?.[1]), Number(match?.[2])];
}

async function attack(gateway: GatewayProcess): Promise<number> {
  const random = seededRandom(4475);
  const corpus = seeds(gateway.sipPort);
  const udp = createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, HOSTILE, resolve));
  let sent = 0;
  // 3000 SIP datagrams, 300 at a time.
  for (let burst = 0; burst < 10; burst++) {
    for (let i = 0; i < 300; i++) {
      udp.send(
        mutate(corpus[Math.floor(random() * corpus.length)] as Buffer, random),
        gateway.sipPort,
        '127.0.0.1',
      );
      sent++;
    }
    await delay(100);
  }
  // Three datagrams of noise at every RTP/RTCP port (one of them is the live call's).
  const [low, high] = rtpRange(gateway);
  for (let port = low; port <= high; port++) {
    for (let i = 0; i < 3; i++) {
      udp.send(
        Buffer.from(Array.from({ length: 12 + Math.floor(random() * 200) }, () => random() * 256)),
        port,
        '127.0.0.1',
      );
      sent++;
    }
    if (port % 100 === 0) await delay(10);
  }
  udp.close();
  // TCP: mutated messages on one connection, then a header line that never ends.
  const tcp = connect({ host: '127.0.0.1', port: gateway.sipPort, localAddress: HOSTILE });
  tcp.on('error', () => undefined);
  await new Promise<void>((resolve) => tcp.once('connect', () => resolve()));
  for (let i = 0; i < 200; i++) tcp.write(mutate(corpus[i % corpus.length] as Buffer, random));
  for (let i = 0; i < 64 && !tcp.destroyed; i++) {
    tcp.write(Buffer.alloc(16 * 1024, 'A'));
    await delay(5);
  }
  tcp.destroy();
  return sent;
}

test('a call survives a storm of malformed SIP, TCP garbage and RTP noise from another address', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const bot = await TestBot.start();
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await startGatewayProcess({ botUrl: bot.url });
    const caller = await callGateway(gateway, {
      scenario: 'uac_pcap',
      calls: 1,
      timeoutMs: 40_000,
      to: '+15551230000',
    });
    for (let i = 0; i < 50 && !bot.calls[0]?.streamSid; i++) await delay(100);
    assert.ok(bot.calls[0]?.streamSid, 'the call is up before the storm');
    const sent = await attack(gateway);

    const result = await caller.result;
    assert.equal(result.successfulCalls, 1, `${result.errors}\n${gateway.logs().slice(-3000)}`);
    const call = bot.calls[0];
    await Promise.race([call.closed, delay(3000)]);
    const seconds = call.callerAudio.reduce((sum, frame) => sum + frame.length, 0) / 8000;
    assert.ok(seconds >= 6, `the bot got ${seconds.toFixed(1)} s of caller audio`);
    assert.equal(gateway.child.exitCode, null, 'the gateway is still running');

    const metrics = await (await fetch(`${gateway.apiUrl}/metrics`)).text();
    assert.match(metrics, /patchbay_calls_total\{direction="inbound",trunk="local",outcome="answered"\} 1/);
    const after = await (
      await callGateway(gateway, {
        scenario: 'uac',
        calls: 1,
        timeoutMs: 20_000,
        extraArgs: ['-d', '300'],
        to: '+15551230000',
      })
    ).result;
    assert.equal(after.successfulCalls, 1, after.errors);
    const errors = gateway
      .logs()
      .split('\n')
      .filter((line) => /"level":(50|60)/.test(line));
    assert.deepEqual(errors, [], 'nothing logged at error or fatal level');
    t.diagnostic(
      `${sent} hostile datagrams and a TCP stream; the call kept ${seconds.toFixed(1)} s of audio`,
    );
  } finally {
    await gateway?.stop();
    await bot.close();
  }
});

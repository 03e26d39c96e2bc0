/**
 * Carrier network faults against a real `patchbay start`: the carrier's RTP both ways goes
 * through an impairing relay on loopback (seeded loss, and a random delay per datagram that
 * reorders too, as `tc netem` would in a namespace; this box has no netem). The caller sends a
 * continuous tone; the test bot hears what the gateway's jitter buffer made of it.
 * - 5 % loss and 30 ms of jitter: the bot's audio stays continuous (concealment covers the
 *   holes, no run of silent frames), and the record counts the loss and the concealment.
 * - A carrier that goes silent mid-call: the call ends on `limits.rtpInactivityTimeoutSec`
 *   with a BYE, a `stop` to the bot and one complete record saying `rtp_timeout`.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { CallRecord } from '../../src/gateway/index.js';
import { encodeMulaw } from '../../src/media/g711.js';
import { RTP_HEADER_BYTES, writeRtpHeader } from '../../src/media/rtp/index.js';
import type { OutboundSession, TerminationCause } from '../../src/sip/index.js';
import { createOffer, parseAnswer } from '../../src/sip/sdp.js';
import { sine, tonePower } from '../helpers/audio.js';
import { type GatewayProcess, startGatewayProcess } from './helpers/gateway-process.js';
import { LossyUdpRelay } from './helpers/lossy-relay.js';
import { type StackUa, startStackUa } from './helpers/stack-ua.js';
import { type BotCall, TestBot } from './helpers/test-bot.js';

const TONE_HZ = 1000;
const FRAME_SAMPLES = 160;
const INACTIVITY_SEC = 2;
/** A frame whose 1 kHz power is under a tenth of the tone's is a hole in the audio. */
const HOLE_RATIO = 0.1;

let bot: TestBot;
let gateway: GatewayProcess;
let ua: StackUa;

before(async () => {
  bot = await TestBot.start();
  gateway = await startGatewayProcess({
    botUrl: bot.url,
    codecs: ['PCMU'],
    rtpInactivityTimeoutSec: INACTIVITY_SEC,
  });
  ua = await startStackUa('udp', false);
});

after(async () => {
  await ua?.close();
  await gateway?.stop();
  await bot?.close();
});

/** A carrier behind the relay: an RTP socket sending a continuous tone every 20 ms. */
class ToneCaller {
  readonly #socket: Socket;
  /** 1 kHz at 8 kHz repeats every 8 samples, so every 160-sample frame is the same audio. */
  readonly #payload = encodeMulaw(sine(TONE_HZ, 8000, FRAME_SAMPLES));
  #sequence = 1000;
  #timestamp = 160_000;
  #timer: NodeJS.Timeout | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
  }

  static async open(): Promise<ToneCaller> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    socket.on('message', () => undefined);
    return new ToneCaller(socket);
  }

  /** Sends one frame per 20 ms slot to `port`, catching up on slots a busy loop missed. */
  start(port: number): void {
    const startedAt = performance.now();
    let sent = 0;
    this.#timer = setInterval(() => {
      const due = Math.floor((performance.now() - startedAt) / 20) + 1;
      for (; sent < due; sent++) {
        // A packet of its own each: dgram may still hold the previous one when a catch-up
        // sends several in one turn.
        const packet = Buffer.alloc(RTP_HEADER_BYTES + FRAME_SAMPLES);
        writeRtpHeader(packet, 0, false, this.#sequence, this.#timestamp, 0x5eed); // PCMU
        packet.set(this.#payload, RTP_HEADER_BYTES);
        this.#sequence = (this.#sequence + 1) & 0xffff;
        this.#timestamp = (this.#timestamp + FRAME_SAMPLES) >>> 0;
        this.#socket.send(packet, port, '127.0.0.1');
      }
    }, 5);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  get port(): number {
    return (this.#socket.address() as AddressInfo).port;
  }

  close(): void {
    this.stop();
    this.#socket.close();
  }
}

interface ImpairedCall {
  session: OutboundSession;
  caller: ToneCaller;
  relay: LossyUdpRelay;
  botCall: BotCall;
  terminated: Promise<TerminationCause>;
}

/** Calls the gateway with the caller's RTP both ways through a relay with `loss` and `jitterMs`. */
async function impairedCall(seed: number, loss: number, jitterMs: number): Promise<ImpairedCall> {
  const caller = await ToneCaller.open();
  const relay = await LossyUdpRelay.start({
    target: { address: '127.0.0.1', port: 9 },
    lossRate: loss,
    jitterMs,
    seed,
  });
  const callsBefore = bot.calls.length;
  const session = ua.ua.call({
    requestUri: `sip:faults@127.0.0.1:${gateway.sipPort}`,
    destination: { transport: 'udp', address: '127.0.0.1', port: gateway.sipPort },
    from: `<sip:carrier@127.0.0.1:${ua.port}>`,
    to: `<sip:faults@127.0.0.1:${gateway.sipPort}>`,
    // The gateway sends to the relay's far side, which passes it on to the caller.
    sdp: createOffer({ address: '127.0.0.1', port: relay.upstreamPort, codecs: ['PCMU'], rtcpMux: true }),
  });
  const terminated = new Promise<TerminationCause>((resolve) => session.once('terminated', resolve));
  const outcome = await session.outcome;
  assert.equal(outcome.kind, 'answered', JSON.stringify(outcome));
  const answer = parseAnswer(session.remoteSdp ?? '', ['PCMU']);
  assert.ok(answer.ok);
  relay.retarget({ address: '127.0.0.1', port: answer.remote.port });
  caller.start(relay.port);
  for (let i = 0; i < 100 && bot.calls.length === callsBefore; i++) await delay(50);
  const botCall = bot.calls[callsBefore];
  assert.ok(botCall, 'the bot got the call');
  return { session, caller, relay, botCall, terminated };
}

/** Gateway records of the call with this SIP Call-ID, once written. */
async function recordsOf(session: OutboundSession): Promise<CallRecord[]> {
  const mine = () =>
    (gateway.records() as unknown as CallRecord[]).filter((record) => record.sipCallId === session.callId);
  for (let i = 0; i < 100 && mine().length === 0; i++) await delay(50);
  return mine();
}

/** Answered, ended, with a duration, the carrier leg's RTP and jitter buffer figures, a MOS. */
function assertComplete(record: CallRecord): void {
  const { media } = record;
  assert.ok(record.answeredAt && record.endedAt, 'answered and ended');
  assert.ok(record.durationMs > 0, 'a duration');
  assert.ok(media.rtp && media.jitterBuffer && media.stream, 'RTP, jitter buffer and stream figures');
  assert.equal(typeof record.mos, 'number');
}

interface Heard {
  frames: number;
  /** Frames without the tone: concealment that faded, or nothing to play. */
  holes: number;
  longestRun: number;
  /** Frames before the tone first reached the bot (the jitter buffer's start-up). */
  startUp: number;
}

/** What the bot heard from the first frame of tone to just before the hang-up. */
function heardBy(botCall: BotCall): Heard {
  const tone = tonePower(sine(TONE_HZ, 8000, FRAME_SAMPLES), 8000, TONE_HZ);
  const isHole = (frame: Int16Array) => tonePower(frame, 8000, TONE_HZ) < tone * HOLE_RATIO;
  const frames = botCall.callerAudio;
  const startUp = frames.findIndex((frame) => !isHole(frame));
  const heard = frames.slice(startUp + 1, -5);
  let holes = 0;
  let run = 0;
  let longestRun = 0;
  for (const frame of heard) {
    const hole = isHole(frame);
    holes += hole ? 1 : 0;
    run = hole ? run + 1 : 0;
    longestRun = Math.max(longestRun, run);
  }
  return { frames: heard.length, holes, longestRun, startUp };
}

test('5 % loss and 30 ms jitter on the carrier network: the bot hears continuous audio, the record counts both', {
  timeout: 60_000,
}, async (t) => {
  // A clean call through the same gateway in the same seconds: the holes a busy machine makes
  // (the gateway's loop held up) show in both, and only the rest is the network's. Unconcealed,
  // 5 % loss would leave 5 % holes; the margin is for the relay's own timers on a busy machine.
  const impaired = await impairedCall(7, 0.05, 30);
  const clean = await impairedCall(8, 0, 0);
  try {
    await delay(8000);
    for (const call of [impaired, clean]) {
      call.caller.stop();
      await call.session.bye();
    }
  } finally {
    for (const call of [impaired, clean]) {
      call.caller.close();
      call.relay.close();
    }
  }
  const heard = heardBy(impaired.botCall);
  const baseline = heardBy(clean.botCall);
  const [record] = await recordsOf(impaired.session);
  assert.ok(record, 'a call record');
  const { rtp, jitterBuffer } = record.media;
  assert.ok(rtp && jitterBuffer, 'RTP and jitter buffer figures');
  const sent = impaired.relay.toTarget.dropped + impaired.relay.toTarget.forwarded;
  t.diagnostic(
    `relay dropped ${impaired.relay.toTarget.dropped} of ${sent} towards the gateway; bot heard ` +
      `${JSON.stringify(heard)}, the clean call ${JSON.stringify(baseline)}; record: lost ${rtp.packetsLost}, ` +
      `jitter ${rtp.jitterMs.toFixed(1)} ms, concealed ${jitterBuffer.concealedSamples} samples`,
  );
  assert.ok(heard.startUp >= 0 && heard.startUp < 25, `tone reached the bot after ${heard.startUp} frames`);
  assert.ok(
    heard.frames >= 7 * 50 * 0.95,
    `${heard.frames} frames in ~7.5 s: the bot got a frame every tick`,
  );
  assert.ok(
    heard.holes <= heard.frames * 0.03 + baseline.holes,
    `${heard.holes} of ${heard.frames} frames were holes (${baseline.holes} in the clean call)`,
  );
  assert.ok(
    heard.longestRun <= Math.max(3, baseline.longestRun + 2),
    `${heard.longestRun} silent frames in a row (${baseline.longestRun} in the clean call)`,
  );
  assertComplete(record);
  assert.equal(record.end.cause, 'caller_bye');
  assert.ok(rtp.packetsLost > 0, 'the loss is counted');
  assert.ok(rtp.jitterMs > 1, 'the jitter is measured');
  assert.ok(jitterBuffer.concealedSamples > 0, 'the holes were concealed');
});

test('a carrier that stops sending RTP mid-call: BYE on the inactivity timeout, one complete record', {
  timeout: 60_000,
}, async () => {
  const call = await impairedCall(9, 0, 0);
  let stoppedAt = 0;
  try {
    await delay(2000);
    call.caller.stop();
    stoppedAt = performance.now();
    const cause = await Promise.race([call.terminated, delay(INACTIVITY_SEC * 1000 + 8000)]);
    assert.ok(cause, 'the gateway hung up');
    assert.equal(cause.by, 'remote', 'by a BYE from the gateway');
  } finally {
    call.caller.close();
    call.relay.close();
  }
  const endedAfterMs = performance.now() - stoppedAt;
  assert.ok(
    endedAfterMs >= INACTIVITY_SEC * 1000 - 100,
    `ended ${endedAfterMs.toFixed(0)} ms after RTP stopped`,
  );
  await Promise.race([call.botCall.closed, delay(3000)]);
  assert.equal(call.botCall.stopped, true, 'the bot got stop');
  const records = await recordsOf(call.session);
  assert.equal(records.length, 1, 'one record');
  const [record] = records;
  assert.ok(record);
  assertComplete(record);
  assert.equal(record.end.cause, 'rtp_timeout');
});

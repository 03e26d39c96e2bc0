import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BotLink, CallBridge } from '../../src/gateway/bridge.js';
import { VoiceActivityDetector } from '../../src/stream/index.js';
import { sine } from '../helpers/audio.js';
import { FakeMediaLeg } from '../helpers/fake-media-leg.js';

function recordingLink(): BotLink & { events: string[] } {
  const events: string[] = [];
  return {
    events,
    sendCallerFrame: () => undefined,
    sendDtmf: (digit) => events.push(`dtmf:${digit}`),
    sendMarkPlayed: (name) => events.push(`mark:${name}`),
    sendExtension: (name) => events.push(name),
  };
}

const ignore = { hangup: () => undefined, transfer: () => undefined, problem: () => undefined };

test('with VAD on, the bot hears speech_started and speech_stopped around the caller talking', () => {
  const leg = new FakeMediaLeg();
  const link = recordingLink();
  new CallBridge({
    media: leg,
    link,
    sampleRate: 8000,
    hooks: ignore,
    vad: new VoiceActivityDetector({ sampleRate: 8000 }),
  });
  const silence = new Int16Array(160);
  for (let i = 0; i < 50; i++) leg.playCaller(silence, i * 20);
  for (let i = 0; i < 50; i++)
    leg.playCaller(sine(300, 8000, 160, 8000, i * 160 * ((2 * Math.PI * 300) / 8000)), 1000 + i * 20);
  for (let i = 0; i < 50; i++) leg.playCaller(silence, 2000 + i * 20);
  assert.deepEqual(link.events, ['speech_started', 'speech_stopped']);
});

test('without VAD no extension events; marks wait for their audio; bot DTMF reaches the leg', () => {
  const leg = new FakeMediaLeg();
  const link = recordingLink();
  const bridge = new CallBridge({ media: leg, link, sampleRate: 8000, hooks: ignore });
  leg.playCaller(sine(300, 8000, 160, 8000), 0);
  bridge.onBotInput({ kind: 'audio', pcm: new Int16Array(320).fill(1000) });
  bridge.onBotInput({ kind: 'mark', name: 'm1' });
  bridge.onBotInput({ kind: 'command', command: { command: 'dtmf', digits: '12' } });
  leg.pullBot();
  assert.deepEqual(link.events, []);
  leg.pullBot();
  assert.deepEqual(link.events, ['mark:m1']);
  assert.deepEqual(
    leg.dtmfSent.map((sent) => sent.digits),
    ['12'],
  );
});

test("a caller's RFC 4733 digit reaches the link with how long it was held", () => {
  const leg = new FakeMediaLeg();
  const digits: Array<[string, number | undefined]> = [];
  const link: BotLink = {
    ...recordingLink(),
    sendDtmf: (digit, durationMs) => digits.push([digit, durationMs]),
  };
  const bridge = new CallBridge({ media: leg, link, sampleRate: 8000, hooks: ignore });
  leg.playDtmf({ digit: '5', durationMs: 160, volume: 10, startTimestamp: 0 });
  bridge.onCallerDtmf('#');
  assert.deepEqual(digits, [
    ['5', 160],
    ['#', undefined],
  ]);
});

test('mid-utterance, a tick with no bot frame yet is held for it; idle, or told not to hold, the bridge plays silence', () => {
  const leg = new FakeMediaLeg();
  const bridge = new CallBridge({ media: leg, link: recordingLink(), sampleRate: 8000, hooks: ignore });
  assert.ok(leg.pullBot(true), 'no bot audio yet: idle silence, nothing to wait for');
  bridge.onBotInput({ kind: 'audio', pcm: new Int16Array(160).fill(1000) });
  assert.equal(leg.botAudioReadyCount, 1, 'each chunk of bot audio tells the leg');
  assert.equal(leg.pullBot(true)?.[80], 1000);
  assert.equal(leg.pullBot(true), undefined, 'mid-utterance and the next frame is late: hold the slot');
  bridge.onBotInput({ kind: 'audio', pcm: new Int16Array(160).fill(2000) });
  assert.equal(leg.pullBot(true)?.[80], 2000, 'the held slot gets the late frame');
  const silence = leg.pullBot(false);
  assert.equal(silence?.[80], 0, 'without leave to hold: a frame of faded silence');
  assert.equal(bridge.stats().underrunFrames, 1);
  assert.ok(leg.pullBot(true), 'after it the bot is idle: nothing held');
});

test('each caller frame goes beside the bot frame played before its tick, whichever of the two left late', () => {
  const leg = new FakeMediaLeg();
  const pairs: number[] = [];
  const link: BotLink = { ...recordingLink(), sendCallerFrame: (_caller, bot) => pairs.push(bot[80] ?? -1) };
  const bridge = new CallBridge({ media: leg, link, sampleRate: 8000, hooks: ignore });
  const botSays = (level: number) =>
    bridge.onBotInput({ kind: 'audio', pcm: new Int16Array(160).fill(level) });
  const caller = new Int16Array(160);
  for (const level of [1, 2, 3, 4, 5]) botSays(level);
  // Tick 0 as MediaLeg runs it: the caller frame, then the tick's bot frame.
  leg.playCaller(caller, 0);
  leg.pullBot(true);
  // Tick 1: the caller's packet is late, so the bot frame goes first and the caller frame after.
  leg.pullBot(true);
  leg.playCaller(caller, 20);
  // Tick 2 on time; tick 3's bot frame is late (its slot held) and tick 4's caller frame comes
  // before it, as MediaLeg sends a held slot at the next tick before that tick's caller frames.
  leg.playCaller(caller, 40);
  leg.pullBot(true);
  leg.playCaller(caller, 60);
  leg.pullBot(true);
  leg.playCaller(caller, 80);
  leg.pullBot(true);
  assert.deepEqual(pairs, [0, 1, 2, 3, 4], 'silence first, then every bot frame once, in order');
});

test("a µ-law link gets a PCMU caller's bytes as they came, beside decoded frames; with VAD it gets samples only", () => {
  const leg = new FakeMediaLeg();
  const sent: string[] = [];
  const latencies: number[] = [];
  const link: BotLink = {
    ...recordingLink(),
    takesCallerMulaw: true,
    sendCallerMulaw: (mulaw) => sent.push(`mulaw:${mulaw[0]}`),
    sendCallerFrame: (caller) => sent.push(`pcm:${caller[0]}`),
  };
  const latency = { now: () => 1000, observe: (seconds: number) => latencies.push(seconds) };
  new CallBridge({ media: leg, link, sampleRate: 8000, hooks: ignore, latency });
  assert.equal(leg.passingMulaw, true);
  leg.playCallerMulaw(new Uint8Array(160).fill(0x55), 990);
  leg.playCaller(new Int16Array(160).fill(7), 980);
  leg.playCallerMulaw(new Uint8Array(160).fill(0x56));
  assert.deepEqual(sent, ['mulaw:85', 'pcm:7', 'mulaw:86']);
  assert.deepEqual(latencies, [0.01, 0.02], 'latency observed for each frame that came from a packet');

  const vadLeg = new FakeMediaLeg();
  new CallBridge({
    media: vadLeg,
    link,
    sampleRate: 8000,
    hooks: ignore,
    vad: new VoiceActivityDetector({ sampleRate: 8000 }),
  });
  assert.equal(vadLeg.passingMulaw, false, 'the VAD needs samples');
  const plainLeg = new FakeMediaLeg();
  new CallBridge({ media: plainLeg, link: recordingLink(), sampleRate: 8000, hooks: ignore });
  assert.equal(plainLeg.passingMulaw, false, 'a link without µ-law');
});

test('a link that sends no bot frame keeps none to pair: it is handed silence', () => {
  const leg = new FakeMediaLeg();
  const beside: number[] = [];
  const link: BotLink = {
    ...recordingLink(),
    carriesBotFrame: false,
    sendCallerFrame: (_caller, bot) => beside.push(bot[80] ?? -1),
  };
  const bridge = new CallBridge({ media: leg, link, sampleRate: 8000, hooks: ignore });
  bridge.onBotInput({ kind: 'audio', pcm: new Int16Array(320).fill(1000) });
  leg.pullBot();
  leg.playCaller(new Int16Array(160));
  leg.pullBot();
  leg.playCaller(new Int16Array(160));
  assert.deepEqual(beside, [0, 0]);
});

test("a link that keeps a µ-law bot's bytes gets a µ-law playout: the leg pulls the bot's bytes, marks after them", () => {
  const leg = new FakeMediaLeg();
  const events: string[] = [];
  let kept = 0;
  const link: BotLink = {
    ...recordingLink(),
    carriesBotFrame: false,
    keepBotMulaw: () => ++kept > 0,
    sendMarkPlayed: (name) => events.push(`mark:${name}`),
  };
  const bridge = new CallBridge({ media: leg, link, sampleRate: 8000, hooks: ignore });
  assert.equal(kept, 1);
  const bot = Uint8Array.from({ length: 320 }, (_, i) => (i % 2 === 0 ? 0x20 : 0xa0));
  bridge.onBotInput({ kind: 'mulaw', mulaw: bot });
  bridge.onBotInput({ kind: 'mark', name: 'said' });
  const first = leg.pullBot();
  assert.ok(first instanceof Uint8Array, 'µ-law bytes, not samples');
  assert.deepEqual(events, []);
  assert.deepEqual(leg.pullBot(), bot.subarray(160), 'past the fade in, the bytes the bot sent');
  assert.deepEqual(events, ['mark:said']);
  assert.equal(leg.pullBot(true), undefined, 'mid-utterance, the next tick holds its slot');
  const underrun = leg.pullBot(false);
  assert.deepEqual(underrun?.subarray(16), new Uint8Array(144).fill(0xff), 'a fade out, then µ-law silence');

  const stereoLeg = new FakeMediaLeg();
  let stereoAsked = 0;
  new CallBridge({
    media: stereoLeg,
    link: { ...recordingLink(), keepBotMulaw: () => ++stereoAsked > 0 },
    sampleRate: 8000,
    hooks: ignore,
  });
  assert.equal(stereoAsked, 0, 'a link that pairs bot frames keeps PCM');
  assert.ok(stereoLeg.pullBot() instanceof Int16Array);
});

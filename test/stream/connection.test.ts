/** StreamConnection on real loopback WebSockets: the protocol, auth, slow bots, reconnects. */
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { encodeMulaw } from '../../src/media/index.js';
import { StereoDialect, TwilioDialect, verifySignature } from '../../src/stream/index.js';
import {
  type BotPeer,
  frame,
  type Harness,
  harness,
  type Json,
  listen,
  logCount,
  nextTurn,
  pauseReading,
  runBackoff,
  TestBot,
  until,
  withStartedStream,
} from './connection-harness.js';

test('connect resolves after connected and start; frames, DTMF, marks, extensions, then stop and 1000', async () => {
  const bot = await TestBot.start();
  const h = harness(bot.url);
  try {
    await h.connection.connect();
    await until(() => bot.events().length >= 2, 'open messages');
    assert.deepEqual(bot.events(), ['connected', 'start']);
    const start = bot.peers[0]?.messages[1] as Json;
    assert.equal(start['start'].callSid, 'CA0123');
    assert.deepEqual(start['start'].customParameters, { lang: 'en' });

    h.connection.sendCallerFrame(frame, frame);
    h.connection.sendDtmf('5');
    h.connection.sendMarkPlayed('m1');
    h.connection.sendExtension('speech_started');
    const peerClosed = new Promise<number>((resolve) => bot.peers[0]?.connection.once('close', resolve));
    h.connection.close(`caller hung up ${'\u00e9'.repeat(200)}`);
    assert.equal(await peerClosed, 1000);
    assert.deepEqual(bot.events(), ['connected', 'start', 'media', 'dtmf', 'mark', 'patchbay', 'stop']);
    const sequence = (bot.peers[0]?.messages ?? []).map((m) => m['sequenceNumber']).filter(Boolean);
    assert.deepEqual(sequence, ['1', '2', '3', '4', '5'], 'patchbay extension events carry no counter');
    assert.equal(h.connection.stats.framesSent, 1);
    assert.ok(h.connection.stats.bytesSent > 500);
    assert.deepEqual(h.closed, [], 'no onClosed for a close we asked for');
    await until(() => h.clock.pendingTimers() === 0, 'the close timeout cancelled by a clean close');
  } finally {
    await bot.close();
  }
});

test('connect rejects when the connect timeout runs out on a server that accepts TCP but never upgrades', async () => {
  const sockets: Socket[] = [];
  const server = createServer((socket) => sockets.push(socket));
  const port = await listen(server);
  const h = harness(`ws://127.0.0.1:${port}/`, { connectTimeoutMs: 200 });
  try {
    const connecting = h.connection.connect();
    await until(() => sockets.length === 1, 'the TCP connection');
    h.clock.advance(199);
    await nextTurn();
    h.clock.advance(1);
    await assert.rejects(connecting, /did not answer within 200 ms/);
    assert.equal(h.clock.pendingTimers(), 0);
  } finally {
    for (const socket of sockets) socket.destroy();
    server.close();
  }
});

test('a stream closed while its handshake is under way cuts the socket: connect rejects at once', async () => {
  const sockets: Socket[] = [];
  // Read, so the server side sees the client's end of the connection.
  const server = createServer((socket) => sockets.push(socket.resume()));
  const port = await listen(server);
  const h = harness(`ws://127.0.0.1:${port}/`, { connectTimeoutMs: 60_000 });
  try {
    const connecting = h.connection.connect();
    await until(() => sockets.length === 1, 'the TCP connection');
    const ended = new Promise((resolve) => sockets[0]?.once('close', resolve));
    h.connection.close('caller hung up');
    await assert.rejects(connecting);
    await ended;
    assert.equal(h.clock.pendingTimers(), 0, 'the connect timeout cancelled');
  } finally {
    for (const socket of sockets) socket.destroy();
    server.close();
  }
});

test('connect rejects on a refused port and on an HTTP answer other than 101', async () => {
  const closedServer = createServer();
  const closedPort = await listen(closedServer);
  await new Promise((resolve) => closedServer.close(resolve));
  await assert.rejects(harness(`ws://127.0.0.1:${closedPort}/`).connection.connect(), /ECONNREFUSED/);

  const http = createHttpServer((_request, response) => response.writeHead(403).end('no'));
  const httpPort = await listen(http);
  try {
    await assert.rejects(harness(`ws://127.0.0.1:${httpPort}/`).connection.connect(), /HTTP 403/);
  } finally {
    http.close();
  }
});

test('the bot sees a bearer header, or an HMAC signature of the URL it can verify', async () => {
  const bot = await TestBot.start();
  try {
    const bearer = harness(bot.url, { auth: { kind: 'bearer', token: 'tok-123' } });
    await bearer.connection.connect();
    await until(() => bot.peers.length === 1, 'first upgrade');
    assert.equal(bot.peers[0]?.request.headers.authorization, 'Bearer tok-123');

    const hmac = harness(bot.url, { auth: { kind: 'hmac', secret: 's3cret' } });
    await hmac.connection.connect();
    const custom = harness(bot.url, { auth: { kind: 'hmac', secret: 's3cret', header: 'X-Bot-Sig' } });
    await custom.connection.connect();
    await until(() => bot.peers.length === 3, 'signed upgrades');
    const signature = bot.peers[1]?.request.headers['x-patchbay-signature'];
    assert.equal(typeof signature, 'string');
    assert.equal(verifySignature('s3cret', bot.url, '', signature as string), true);
    assert.equal(verifySignature('wrong', bot.url, '', signature as string), false);
    assert.equal(bot.peers[1]?.request.headers.authorization, undefined);
    const customSignature = bot.peers[2]?.request.headers['x-bot-sig'] as string;
    assert.equal(verifySignature('s3cret', bot.url, '', customSignature), true);
    for (const h of [bearer, hmac, custom]) h.connection.close('done');
  } finally {
    await bot.close();
  }
});

test('a bot that stops reading costs dropped caller audio, counted, and never blocks the sender', async () => {
  const bot = await TestBot.start();
  const h = harness(bot.url, { maxBufferedBytes: 64 * 1024 });
  try {
    await h.connection.connect();
    await until(() => bot.peers.length === 1, 'connection');
    // The server stops reading: kernel buffers fill, then ws's own buffer grows.
    pauseReading(bot.peers[0] as BotPeer);
    const total = 30_000;
    for (let i = 0; i < total; i++) {
      h.connection.sendCallerFrame(frame, frame);
      // Let the event loop move bytes to the kernel now and then, as the media clock would.
      if (i % 1000 === 999) await nextTurn();
    }
    const { framesSent, droppedFrames, queueDepth } = h.connection.stats;
    assert.ok(droppedFrames > 0, 'frames were dropped');
    assert.equal(framesSent + droppedFrames + queueDepth, total, 'every frame sent, dropped or queued');
    assert.ok(queueDepth <= 25, `queue bounded (${queueDepth})`);

    // Control messages still go out (into the socket's buffer) while audio is being dropped.
    const bytes = h.connection.stats.bytesSent;
    h.connection.sendMarkPlayed('m');
    h.connection.sendDtmf('1');
    assert.ok(h.connection.stats.bytesSent > bytes, 'mark and dtmf were written');
    assert.deepEqual(h.closed, []);
    h.connection.close('done');
  } finally {
    await bot.close();
  }
});

/**
 * A started stream whose bot stops reading until `queued` caller frames wait in the
 * connection's queue; `meanwhile` runs then, and the bot reads again while later frames drain
 * the queue, the way the media clock drives it. Resolves with every message the bot got, once
 * it has them all: the caller frames sent and `others` more (`connected` and `start` included).
 */
async function throughSlowBot(
  queued: number,
  meanwhile: (h: Harness) => void,
  others: number,
): Promise<Json[]> {
  const bot = await TestBot.start();
  const h = harness(bot.url, { maxBufferedBytes: 2048 });
  try {
    await h.connection.connect();
    await until(() => bot.peers.length === 1, 'connection');
    const socket = pauseReading(bot.peers[0] as BotPeer);
    // Until the kernel's buffers and ws's are full and frames queue (bounded).
    for (let i = 0; h.connection.stats.queueDepth < queued && i < 50_000; i++) {
      h.connection.sendCallerFrame(frame, frame);
      if (i % 100 === 99) await nextTurn();
    }
    assert.ok(h.connection.stats.queueDepth > 0, 'frames were queued');
    meanwhile(h);
    socket.resume();
    for (let i = 0; h.connection.stats.queueDepth > 0 && i < 1000; i++) {
      await nextTurn();
      h.connection.sendCallerFrame(frame, frame);
    }
    const { framesSent } = h.connection.stats;
    await until(() => (bot.peers[0]?.messages.length ?? 0) === framesSent + others, 'every message sent');
    h.connection.close('done');
    return bot.peers[0]?.messages ?? [];
  } finally {
    await bot.close();
  }
}

test('frames queued behind a slow bot are their own copies: each arrives whole, once, in order', async () => {
  const media = (await throughSlowBot(20, () => undefined, 2)).slice(2);
  const payload = Buffer.from(encodeMulaw(frame)).toString('base64');
  let previous = 0;
  for (const message of media) {
    const sequence = Number(message['sequenceNumber']);
    assert.ok(sequence > previous, `sequence ${sequence} after ${previous}`);
    previous = sequence;
    assert.equal(message['media'].chunk, String(sequence - 1));
    assert.equal(message['media'].timestamp, String((sequence - 2) * 20));
    assert.equal(message['media'].payload, payload);
  }
});

test('a digit or mark echo sent while caller frames wait for a slow bot arrives after them: sequenceNumbers in order', async () => {
  const messages = await throughSlowBot(
    10,
    (h) => {
      h.connection.sendDtmf('5');
      h.connection.sendMarkPlayed('m1');
    },
    4,
  );
  assert.deepEqual(
    messages.map((m) => m['event']).filter((event) => event !== 'media'),
    ['connected', 'start', 'dtmf', 'mark'],
  );
  const sequence = messages.slice(1).map((m) => Number(m['sequenceNumber']));
  const disorder = sequence.findIndex((n, i) => i > 0 && n <= (sequence[i - 1] as number));
  assert.equal(disorder, -1, `sequenceNumber ${sequence[disorder]} after ${sequence[disorder - 1]}`);
});

test('digits for a bot that reads nothing stop at a bound: dropped and counted, not buffered for the whole call', async () => {
  const bot = await TestBot.start();
  const h = harness(bot.url, { maxBufferedBytes: 2048 });
  try {
    await h.connection.connect();
    await until(() => bot.peers.length === 1, 'connection');
    pauseReading(bot.peers[0] as BotPeer);
    // Until the kernel's buffers are full and ws holds the rest (bounded).
    for (let i = 0; h.connection.stats.controlDropped === 0 && i < 200_000; i++) {
      h.connection.sendDtmf('5');
      if (i % 100 === 99) await nextTurn();
    }
    assert.ok(h.connection.stats.controlDropped > 0, 'digits were dropped');
    const { bytesSent, controlDropped } = h.connection.stats;
    for (let i = 0; i < 1000; i++) h.connection.sendDtmf('5');
    assert.equal(h.connection.stats.bytesSent, bytesSent, 'nothing more handed to the socket');
    assert.equal(h.connection.stats.controlDropped, controlDropped + 1000);
    assert.equal(h.logs.filter((line) => line.includes('not reading')).length, 1, 'said once');
    h.connection.close('done');
  } finally {
    await bot.close();
  }
});

test('caller audio before connect or after close is dropped and counted, never thrown', () => {
  const h = harness('ws://127.0.0.1:9/');
  h.connection.sendCallerFrame(frame, frame);
  h.connection.sendDtmf('1');
  h.connection.close('never opened');
  h.connection.sendCallerFrame(frame, frame);
  assert.equal(h.connection.stats.droppedFrames, 2);
  assert.equal(h.connection.stats.bytesSent, 0);
});

test('hangup policy: the bot closing mid-call ends the call with backend-gone', () =>
  withStartedStream({ reconnect: { policy: 'hangup' } }, async (bot, h) => {
    bot.peers[0]?.connection.close(1011, 'bot crashed');
    await until(() => h.closed.length === 1, 'onClosed');
    assert.match(h.closed[0] ?? '', /^backend-gone \(1011\)$/);
    assert.equal(h.clock.pendingTimers(), 0, 'no reconnect armed');
    assert.equal(bot.peers.length, 1, 'no reconnect');
    assert.equal(h.closed.length, 1, 'onClosed once');
  }));

test('reconnect policy: a new socket gets a fresh connected and start, counted from 1', async () => {
  const bot = await TestBot.start();
  const h = harness(bot.url, { reconnect: { policy: 'reconnect', backoffMs: 20 } });
  try {
    await h.connection.connect();
    h.connection.sendCallerFrame(frame, frame);
    await until(() => bot.events().length === 3, 'first media');
    bot.peers[0]?.connection.terminate();
    await runBackoff(h, 20, 'bot socket lost');
    await until(() => bot.events(1).length === 2, 'second start');
    assert.deepEqual(bot.events(1), ['connected', 'start']);
    const [first, second] = [bot.peers[0]?.messages[1], bot.peers[1]?.messages[1]] as Json[];
    assert.equal(second?.['sequenceNumber'], '1');
    assert.equal(second?.['start'].callSid, first?.['start'].callSid);
    await until(() => h.connection.stats.reconnects === 1, 'reconnect counted');
    h.connection.sendCallerFrame(frame, frame);
    await until(() => bot.events(1).length === 3, 'media on the new socket');
    assert.equal(bot.peers[1]?.messages[2]?.['media'].chunk, '1');
    assert.deepEqual(h.closed, []);
    h.connection.close('done');
  } finally {
    await bot.close();
  }
});

test('reconnect policy: digits, mark echoes and events from the backoff follow the new start, numbered in the new stream', () =>
  withStartedStream({ reconnect: { policy: 'reconnect', backoffMs: 20 } }, async (bot, h) => {
    bot.peers[0]?.connection.terminate();
    await until(() => logCount(h, 'bot socket lost') === 1, 'socket lost');
    h.connection.sendDtmf('7', 120);
    h.connection.sendMarkPlayed('greeting-done');
    h.connection.sendExtension('speech_started');
    await runBackoff(h, 20, 'bot socket lost');
    await until(() => bot.events(1).length === 5, 'held controls on the new socket');
    assert.deepEqual(bot.events(1), ['connected', 'start', 'dtmf', 'mark', 'patchbay']);
    const [, , dtmf, mark] = bot.peers[1]?.messages ?? [];
    assert.equal(dtmf?.['dtmf'].digit, '7');
    assert.equal(dtmf?.['sequenceNumber'], '2', 'after the new start, which is 1');
    assert.equal(mark?.['mark'].name, 'greeting-done');
    assert.equal(mark?.['sequenceNumber'], '3');
    assert.equal(h.connection.stats.controlDropped, 0);
    h.connection.close('done');
  }));

test('reconnect policy: controls held for a reconnect that never comes are counted as dropped', () =>
  withStartedStream({ reconnect: { policy: 'reconnect', maxRetries: 1, backoffMs: 20 } }, async (bot, h) => {
    bot.server.options.verifyClient = (_info: unknown, done: (ok: boolean, code?: number) => void) =>
      done(false, 503);
    bot.peers[0]?.connection.terminate();
    await until(() => logCount(h, 'bot socket lost') === 1, 'socket lost');
    h.connection.sendDtmf('1');
    h.connection.sendMarkPlayed('m1');
    await runBackoff(h, 20, 'bot socket lost');
    await until(() => h.closed.length === 1, 'onClosed');
    assert.equal(h.connection.stats.controlDropped, 2);
    h.connection.sendDtmf('2');
    assert.equal(h.connection.stats.controlDropped, 2, 'nothing is held after the end');
  }));

test('reconnect policy: when every retry fails the call ends once, after maxRetries attempts', async () => {
  const bot = await TestBot.start();
  let upgrades = 0;
  const h = harness(bot.url, { reconnect: { policy: 'reconnect', maxRetries: 2, backoffMs: 20 } });
  try {
    await h.connection.connect();
    await until(() => bot.peers.length === 1, 'connection');
    // From now on the bot refuses every upgrade.
    bot.server.options.verifyClient = (_info: unknown, done: (ok: boolean, code?: number) => void) => {
      upgrades++;
      done(false, 503);
    };
    bot.peers[0]?.connection.terminate();
    await runBackoff(h, 20, 'bot socket lost');
    await runBackoff(h, 40, 'bot reconnect failed');
    await until(() => h.closed.length === 1, 'onClosed');
    assert.equal(h.closed[0], 'backend-gone (2 reconnects failed)');
    assert.equal(upgrades, 2);
    assert.equal(h.connection.stats.reconnects, 0);
  } finally {
    await bot.close();
  }
});

test('close() during the reconnect backoff stops retrying and reports nothing', async () => {
  const bot = await TestBot.start();
  const h = harness(bot.url, { reconnect: { policy: 'reconnect', backoffMs: 100 } });
  try {
    await h.connection.connect();
    await until(() => bot.peers.length === 1, 'connection');
    bot.peers[0]?.connection.terminate();
    await until(() => h.clock.pendingTimers() === 1 && logCount(h, 'bot socket lost') === 1, 'backoff');
    h.clock.advance(50);
    h.connection.close('caller hung up');
    assert.equal(h.clock.pendingTimers(), 0, 'the backoff is cancelled');
    const armed = h.clock.delays.length;
    h.clock.advance(60_000);
    assert.equal(h.clock.delays.length, armed, 'no reconnect after close');
    assert.equal(bot.peers.length, 1);
    assert.deepEqual(h.closed, []);
  } finally {
    await bot.close();
  }
});

test("a bot's text messages reach the dialect as the Buffer ws received, so media events take the bytes scan", async () => {
  const dialect = new TwilioDialect();
  const handedOver: boolean[] = [];
  const parse = dialect.parse.bind(dialect);
  dialect.parse = (data, isBinary) => {
    handedOver.push(Buffer.isBuffer(data));
    return parse(data, isBinary);
  };
  await withStartedStream({ dialect }, async (bot, h) => {
    const peer = bot.peers[0] as BotPeer;
    const payload = Buffer.from(encodeMulaw(frame)).toString('base64');
    peer.connection.send(
      `{"event":"media","streamSid":"${dialect.streamSid}","media":{"payload":"${payload}"}}`,
    );
    peer.connection.send(`{"event":"mark","streamSid":"${dialect.streamSid}","mark":{"name":"m1"}}`);
    await until(() => h.inputs.length === 2, 'both bot messages');
    assert.deepEqual(
      h.inputs.map((input) => input.kind),
      ['audio', 'mark'],
    );
    assert.deepEqual(handedOver, [true, true]);
  });
});

test("a Twilio stream takes the caller's µ-law as it came, counted with decoded frames; a stereo one does not", async () => {
  await withStartedStream({}, async (bot, h) => {
    assert.equal(h.connection.takesCallerMulaw, true);
    assert.equal(h.connection.carriesBotFrame, false, 'a mono stream sends no bot frame');
    const mulaw = Uint8Array.from({ length: 160 }, (_, i) => (i * 7) & 0xff);
    h.connection.sendCallerMulaw(mulaw);
    h.connection.sendCallerFrame(frame, frame);
    await until(() => bot.events().filter((event) => event === 'media').length === 2, 'two media');
    const media = (bot.peers[0]?.messages ?? []).filter((m) => m['event'] === 'media');
    assert.deepEqual([...Buffer.from(media[0]?.['media'].payload, 'base64')], [...mulaw]);
    assert.deepEqual([...Buffer.from(media[1]?.['media'].payload, 'base64')], [...encodeMulaw(frame)]);
    assert.deepEqual(
      media.map((m) => m['media'].chunk),
      ['1', '2'],
    );
    assert.equal(h.connection.stats.framesSent, 2);
  });
  const stereo = harness('ws://127.0.0.1:9/', { dialect: new StereoDialect(8000) });
  assert.equal(stereo.connection.takesCallerMulaw, false);
  assert.equal(stereo.connection.carriesBotFrame, true);
  assert.throws(() => stereo.connection.sendCallerMulaw(new Uint8Array(160)), /does not carry µ-law/);
});

import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { type WebSocket, WebSocketServer } from 'ws';
import { encodeMulaw } from '../../src/media/index.js';
import {
  type BotInput,
  StreamConnection,
  type StreamConnectionOptions,
  TwilioDialect,
  verifySignature,
} from '../../src/stream/index.js';
import { FakeClock, type Logger, type TimerHandle } from '../../src/util/index.js';

// biome-ignore lint/suspicious/noExplicitAny: the tests walk arbitrary wire JSON
type Json = Record<string, any>;

const call = { callSid: 'CA0123', accountSid: 'AC0123', customParameters: { lang: 'en' } };
const frame = new Int16Array(160);

/** A bot on loopback that records each connection's upgrade request and text messages. */
interface BotPeer {
  connection: WebSocket;
  request: IncomingMessage;
  messages: Json[];
}

/**
 * Waits one event-loop turn at a time, so loopback I/O runs in between, until `predicate`
 * holds. Bounded by turns, not by wall time: a missing event fails the test instead of hanging.
 */
async function until(predicate: () => boolean, what: string, maxTurns = 200_000): Promise<void> {
  for (let turn = 0; !predicate(); turn++) {
    if (turn >= maxTurns) throw new Error(`${what} did not happen within ${maxTurns} loop turns`);
    await nextTurn();
  }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

class TestBot {
  readonly peers: BotPeer[] = [];

  private constructor(
    readonly server: WebSocketServer,
    readonly url: string,
  ) {
    server.on('connection', (connection, request) => {
      const peer: BotPeer = { connection, request, messages: [] };
      this.peers.push(peer);
      connection.on('message', (data, isBinary) => {
        if (!isBinary) peer.messages.push(JSON.parse(String(data)));
      });
    });
  }

  static async start(): Promise<TestBot> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    return new TestBot(server, `ws://127.0.0.1:${(server.address() as AddressInfo).port}/bot?x=1`);
  }

  events(index = 0): string[] {
    return (this.peers[index]?.messages ?? []).map((m) => m['event']);
  }

  streamSid(index = 0): string {
    return this.peers[index]?.messages[1]?.['streamSid'] as string;
  }

  async close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** A FakeClock that remembers every delay asked of it, to check backoff and timeouts. */
class RecordingClock extends FakeClock {
  readonly delays: number[] = [];

  override setTimer(delayMs: number, fn: () => void): TimerHandle {
    this.delays.push(delayMs);
    return super.setTimer(delayMs, fn);
  }
}

interface Harness {
  connection: StreamConnection;
  clock: RecordingClock;
  inputs: BotInput[];
  closed: string[];
  /** Every log line's message, in order. */
  logs: string[];
}

function harness(url: string, options: Partial<StreamConnectionOptions> = {}): Harness {
  const inputs: BotInput[] = [];
  const closed: string[] = [];
  const logs: string[] = [];
  const record = (_fields: object, message?: string) => logs.push(message ?? '');
  const logger: Logger = { debug: record, info: record, warn: record, error: record, child: () => logger };
  const clock = new RecordingClock();
  const connection = new StreamConnection({
    url,
    dialect: new TwilioDialect(),
    call,
    clock,
    logger,
    onBotInput: (input) => inputs.push(input),
    onClosed: (reason) => closed.push(reason),
    ...options,
  });
  return { connection, clock, inputs, closed, logs };
}

/**
 * Runs `body` on a connection to a fresh TestBot that has received `connected` and `start`;
 * the bot is closed afterwards whatever happens.
 */
async function withStartedStream(
  options: Partial<StreamConnectionOptions>,
  body: (bot: TestBot, h: Harness) => Promise<void>,
): Promise<void> {
  const bot = await TestBot.start();
  const h = harness(bot.url, options);
  try {
    await h.connection.connect();
    await until(() => bot.events().length === 2, 'start');
    await body(bot, h);
  } finally {
    await bot.close();
  }
}

async function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Stops the bot reading its socket: kernel buffers fill, then the sender's own buffer grows. */
function pauseReading(peer: BotPeer): Socket {
  const socket = (peer.connection as unknown as { _socket: Socket })._socket;
  socket.pause();
  return socket;
}

function logCount(h: Harness, message: string): number {
  return h.logs.filter((line) => line === message).length;
}

/**
 * Once the `nth` `after` line is logged, checks that the armed backoff (the only timer while no
 * socket is open) is `backoffMs`, runs it out, and checks that a reconnect started.
 */
async function runBackoff(h: Harness, backoffMs: number, after: string, nth = 1): Promise<void> {
  await until(() => logCount(h, after) >= nth && h.clock.pendingTimers() === 1, `backoff after ${after}`);
  assert.equal(h.clock.delays.at(-1), backoffMs, 'backoff');
  const armed = h.clock.delays.length;
  h.clock.advance(backoffMs - 1);
  assert.equal(h.clock.delays.length, armed, 'no reconnect before the backoff has run out');
  h.clock.advance(1);
  assert.equal(h.clock.delays.length, armed + 1, 'a reconnect started (its connect timeout armed)');
}

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

test('frames queued behind a slow bot are their own copies: each arrives whole, once, in order', async () => {
  const bot = await TestBot.start();
  const h = harness(bot.url, { maxBufferedBytes: 2048 });
  try {
    await h.connection.connect();
    await until(() => bot.peers.length === 1, 'connection');
    const socket = pauseReading(bot.peers[0] as BotPeer);
    // Until the kernel's buffers and ws's are full and frames queue (bounded).
    for (let i = 0; h.connection.stats.queueDepth < 20 && i < 50_000; i++) {
      h.connection.sendCallerFrame(frame, frame);
      if (i % 100 === 99) await nextTurn();
    }
    assert.ok(h.connection.stats.queueDepth > 0, 'frames were queued');
    socket.resume();
    // The queue drains as later frames are sent, the way the media clock drives it.
    for (let i = 0; h.connection.stats.queueDepth > 0 && i < 1000; i++) {
      await nextTurn();
      h.connection.sendCallerFrame(frame, frame);
    }
    const { framesSent } = h.connection.stats;
    await until(() => (bot.peers[0]?.messages.length ?? 0) === framesSent + 2, 'every sent frame');
    const media = (bot.peers[0]?.messages ?? []).slice(2);
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

test('invalid JSON, unknown events, a wrong streamSid and binary frames are counted and not passed on', () =>
  withStartedStream({}, async (bot, h) => {
    const peer = bot.peers[0] as BotPeer;
    const streamSid = peer.messages[1]?.['streamSid'] as string;
    peer.connection.send('{not json');
    peer.connection.send(JSON.stringify({ event: 'dance', streamSid }));
    peer.connection.send(JSON.stringify({ event: 'mark', streamSid: 'MZwrong', mark: { name: 'x' } }));
    peer.connection.send(Buffer.from([1, 2, 3]));
    peer.connection.send(JSON.stringify({ event: 'mark', streamSid, mark: { name: 'alive' } }));
    await until(() => h.inputs.length === 1, 'the good mark');
    assert.deepEqual(h.inputs, [{ kind: 'mark', name: 'alive' }]);
    assert.equal(h.connection.stats.invalidMessages, 4);
    assert.equal(h.connection.stats.messagesReceived, 5);
    assert.deepEqual(h.closed, []);
    h.connection.close('done');
  }));

test('a throwing onBotInput is contained: the connection keeps receiving', async () => {
  const bot = await TestBot.start();
  let calls = 0;
  const h = harness(bot.url, {
    onBotInput: () => {
      calls++;
      throw new Error('bridge bug');
    },
  });
  try {
    await h.connection.connect();
    await until(() => bot.events().length === 2, 'start');
    const peer = bot.peers[0] as BotPeer;
    const streamSid = peer.messages[1]?.['streamSid'] as string;
    peer.connection.send(JSON.stringify({ event: 'clear', streamSid }));
    peer.connection.send(JSON.stringify({ event: 'clear', streamSid }));
    await until(() => calls === 2, 'both messages');
    assert.deepEqual(h.closed, []);
    h.connection.close('done');
  } finally {
    await bot.close();
  }
});

test('a message over 1 MiB is refused with 1009 and counted; the reconnect policy keeps the call', () =>
  withStartedStream({ reconnect: { policy: 'reconnect', backoffMs: 20 } }, async (bot, h) => {
    const closedWith = new Promise<number>((resolve) => bot.peers[0]?.connection.once('close', resolve));
    bot.peers[0]?.connection.send(`{"event":"media","pad":"${'x'.repeat(1 << 20)}"}`);
    assert.equal(await closedWith, 1009);
    await runBackoff(h, 20, 'bot socket lost');
    await until(() => bot.events(1).length === 2, 'start on the new socket');
    assert.equal(h.connection.stats.invalidMessages, 1);
    assert.deepEqual(h.inputs, []);
    assert.deepEqual(h.closed, []);

    const hangup = harness(bot.url);
    await hangup.connection.connect();
    await until(() => bot.peers.length === 3, 'third connection');
    bot.peers[2]?.connection.send(Buffer.alloc((1 << 20) + 1));
    await until(() => hangup.closed.length === 1, 'hangup');
    assert.match(hangup.closed[0] ?? '', /^backend-gone \(1009, message over 1048576 bytes\)$/);
    h.connection.close('done');
  }));

test('a burst of 10,000 bot messages is handled one per loop turn and 32 per 20 ms window, in order, the socket paused in between', () =>
  withStartedStream({}, async (bot, h) => {
    const streamSid = bot.streamSid();
    const handled = () => h.inputs.length + h.connection.stats.invalidMessages;
    let handledBefore = 0;
    let busiestTurn = 0;
    let counting = true;
    const countTurn = () => {
      busiestTurn = Math.max(busiestTurn, handled() - handledBefore);
      handledBefore = handled();
      if (counting) setImmediate(countTurn);
    };
    setImmediate(countTurn);
    const junk = JSON.stringify({ event: 'dance', streamSid });
    for (let i = 0; i < 10_000; i++) {
      const mark = JSON.stringify({ event: 'mark', streamSid, mark: { name: String(i) } });
      bot.peers[0]?.connection.send(i % 2 === 0 ? junk : mark);
    }
    let windows = 0;
    // A quarter millisecond per loop turn, one message per turn: the budget of each 20 ms
    // window (80 turns) runs out long before the window ends.
    await until(() => {
      h.clock.advance(0.25);
      windows = Math.floor(h.clock.now() / 20) + 1;
      return handled() === 10_000;
    }, 'every message handled');
    counting = false;
    // One from ws's read and one from the queue at most.
    assert.ok(busiestTurn <= 2, `${busiestTurn} messages handled in one loop turn`);
    assert.ok(windows >= 10_000 / 32, `${windows} windows of 20 ms for 10,000 messages`);
    assert.ok(h.connection.stats.paused > 10, `paused ${h.connection.stats.paused} times`);
    assert.equal(h.connection.stats.invalidMessages, 5000);
    assert.equal(h.connection.stats.messagesDropped, 0);
    const names = h.inputs.map((input) => (input.kind === 'mark' ? Number(input.name) : -1));
    assert.deepEqual(
      names,
      Array.from({ length: 5000 }, (_, i) => 2 * i + 1),
      'every mark, in order',
    );
    // The burst took 313 windows (6.3 s): one line at its start and one 5 s later.
    assert.equal(logCount(h, 'bot message ignored'), 2, 'invalid messages logged at most every 5 s');
  }));

test('tiny messages beyond the inbound queue are dropped and counted, never handled in one turn', () =>
  withStartedStream({}, async (bot, h) => {
    // 3 bytes each on the wire: one 64 KiB read holds far more than the queue.
    for (let i = 0; i < 10_000; i++) bot.peers[0]?.connection.send('x');
    const { stats } = h.connection;
    // The window does not end (the clock stands): 32 handled, the read's rest queued or dropped.
    await until(() => stats.messagesDropped > 0, 'a drop beyond the queue');
    assert.equal(stats.invalidMessages, 32);
    await until(() => {
      h.clock.advance(1);
      return stats.invalidMessages + stats.messagesDropped === 10_000;
    }, 'every message accounted for');
    assert.equal(logCount(h, 'bot message burst dropped'), 1, 'drops logged at most every 5 s');
    bot.peers[0]?.connection.send(JSON.stringify({ event: 'clear', streamSid: bot.streamSid() }));
    await until(() => h.inputs.length === 1, 'the call goes on');
    assert.deepEqual(h.inputs, [{ kind: 'clear' }]);
  }));

test('after stop nothing the bot sends is parsed or passed on: counted, logged once, then the close completes', () =>
  withStartedStream({}, async (bot, h) => {
    const peer = bot.peers[0] as BotPeer;
    const dtmf = JSON.stringify({ event: 'patchbay', command: 'dtmf', digits: '1' });
    peer.connection.on('message', (data) => {
      if (String(data).includes('"stop"')) for (let i = 0; i < 10_000; i++) peer.connection.send(dtmf);
    });
    const peerClosed = new Promise<number>((resolve) => peer.connection.once('close', resolve));
    h.connection.close('caller hung up');
    assert.equal(await peerClosed, 1000);
    await until(() => h.connection.stats.messagesAfterStop === 10_000, 'every late message counted');
    assert.deepEqual(h.inputs, []);
    assert.equal(h.connection.stats.invalidMessages, 0);
    assert.equal(logCount(h, 'bot message after stop dropped'), 1);
    await until(() => h.clock.pendingTimers() === 0, 'the close timeout cancelled by the completed close');
    assert.equal(logCount(h, 'bot did not complete the close handshake; socket cut'), 0);
  }));

test('a bot hangup amid a burst: what was queued behind it is dropped, never handled on the ended call', async () => {
  const bot = await TestBot.start();
  const seen: BotInput[] = [];
  const h: Harness = harness(bot.url, {
    onBotInput: (input) => {
      seen.push(input);
      if (input.kind === 'command' && input.command.command === 'hangup') h.connection.close('bot hangup');
    },
  });
  try {
    await h.connection.connect();
    await until(() => bot.events().length === 2, 'start');
    const peer = bot.peers[0] as BotPeer;
    const streamSid = bot.streamSid();
    const peerClosed = new Promise<number>((resolve) => peer.connection.once('close', resolve));
    for (let i = 0; i < 100; i++)
      peer.connection.send(JSON.stringify({ event: 'mark', streamSid, mark: { name: 'm' } }));
    peer.connection.send(JSON.stringify({ event: 'patchbay', command: 'hangup' }));
    for (let i = 0; i < 1000; i++)
      peer.connection.send(JSON.stringify({ event: 'patchbay', command: 'dtmf', digits: '9' }));
    // 32 messages a 20 ms window: the hangup, 101st, comes in the fourth window.
    await until(() => {
      h.clock.advance(1);
      return seen.length === 101;
    }, 'the hangup handled');
    assert.equal(await peerClosed, 1000);
    await until(() => h.connection.stats.messagesAfterStop === 1000, 'the burst counted');
    assert.equal(seen.length, 101, 'the marks and the hangup');
    assert.deepEqual(seen.at(-1), { kind: 'command', command: { command: 'hangup' } });
  } finally {
    await bot.close();
  }
});

test('a bot that never answers our close frame is cut off after the close timeout', () =>
  withStartedStream({}, async (bot, h) => {
    const peer = bot.peers[0] as BotPeer;
    const botSocket = pauseReading(peer);
    const peerClosed = new Promise<number>((resolve) => peer.connection.once('close', resolve));
    for (let i = 0; i < 1000; i++) h.connection.sendMarkPlayed(`m${i}`);
    h.connection.close('caller hung up');
    assert.equal(h.clock.delays.at(-1), 1000, 'close timeout');
    h.clock.advance(999);
    assert.equal(logCount(h, 'bot did not complete the close handshake; socket cut'), 0);
    h.clock.advance(1);
    assert.equal(logCount(h, 'bot did not complete the close handshake; socket cut'), 1);
    botSocket.resume();
    await peerClosed;
    assert.equal(h.clock.pendingTimers(), 0);
  }));

test('reconnects are bounded over the whole call: a bot that drops every socket after start gets maxRetries', async () => {
  const bot = await TestBot.start();
  bot.server.on('connection', (socket) => {
    socket.on('message', (data) => {
      if (String(data).includes('"start"')) socket.close(1011, 'bot crashed');
    });
  });
  const h = harness(bot.url, { reconnect: { policy: 'reconnect', maxRetries: 2, backoffMs: 100 } });
  try {
    await h.connection.connect();
    await runBackoff(h, 100, 'bot socket lost', 1);
    await runBackoff(h, 200, 'bot socket lost', 2);
    await until(() => h.closed.length === 1, 'onClosed');
    assert.equal(h.closed[0], 'backend-gone (1011, 2 reconnects used)');
    assert.equal(bot.peers.length, 3, 'the first socket and two reconnects');
    assert.equal(h.connection.stats.reconnects, 2);
    assert.equal(h.clock.pendingTimers(), 0, 'no further reconnect armed');
  } finally {
    await bot.close();
  }
});

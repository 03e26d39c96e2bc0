import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  type BotInput,
  StreamConnection,
  type StreamConnectionOptions,
  TwilioDialect,
  verifySignature,
} from '../../src/stream/index.js';
import { SystemClock, silentLogger } from '../../src/util/index.js';

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

class TestBot {
  readonly peers: BotPeer[] = [];
  readonly #waiters: Array<() => void> = [];

  private constructor(
    readonly server: WebSocketServer,
    readonly url: string,
  ) {
    server.on('connection', (connection, request) => {
      const peer: BotPeer = { connection, request, messages: [] };
      this.peers.push(peer);
      connection.on('message', (data, isBinary) => {
        if (!isBinary) peer.messages.push(JSON.parse(String(data)));
        this.#wake();
      });
      this.#wake();
    });
  }

  static async start(): Promise<TestBot> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    return new TestBot(server, `ws://127.0.0.1:${(server.address() as AddressInfo).port}/bot?x=1`);
  }

  /** Resolves once `predicate` holds (checked on every connection and message), or fails after 1.5 s. */
  async until(predicate: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 1500;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  events(index = 0): string[] {
    return (this.peers[index]?.messages ?? []).map((m) => m.event);
  }

  async close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    await new Promise((resolve) => this.server.close(resolve));
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}

interface Harness {
  connection: StreamConnection;
  inputs: BotInput[];
  closed: string[];
}

function harness(url: string, options: Partial<StreamConnectionOptions> = {}): Harness {
  const inputs: BotInput[] = [];
  const closed: string[] = [];
  const connection = new StreamConnection({
    url,
    dialect: new TwilioDialect(),
    call,
    clock: new SystemClock(),
    logger: silentLogger,
    onBotInput: (input) => inputs.push(input),
    onClosed: (reason) => closed.push(reason),
    ...options,
  });
  return { connection, inputs, closed };
}

async function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('connect resolves after connected and start; frames, DTMF, marks, extensions, then stop and 1000', async () => {
  const bot = await TestBot.start();
  const h = harness(bot.url);
  try {
    await h.connection.connect();
    await bot.until(() => bot.events().length >= 2, 'open messages');
    assert.deepEqual(bot.events(), ['connected', 'start']);
    const start = bot.peers[0]?.messages[1] as Json;
    assert.equal(start.start.callSid, 'CA0123');
    assert.deepEqual(start.start.customParameters, { lang: 'en' });

    h.connection.sendCallerFrame(frame, frame);
    h.connection.sendDtmf('5');
    h.connection.sendMarkPlayed('m1');
    h.connection.sendExtension('speech_started');
    const peerClosed = new Promise<number>((resolve) => bot.peers[0]?.connection.once('close', resolve));
    h.connection.close(`caller hung up ${'\u00e9'.repeat(200)}`);
    assert.equal(await peerClosed, 1000);
    assert.deepEqual(bot.events(), ['connected', 'start', 'media', 'dtmf', 'mark', 'patchbay', 'stop']);
    const sequence = (bot.peers[0]?.messages ?? []).map((m) => m.sequenceNumber).filter(Boolean);
    assert.deepEqual(sequence, ['1', '2', '3', '4', '5'], 'patchbay extension events carry no counter');
    assert.equal(h.connection.stats.framesSent, 1);
    assert.ok(h.connection.stats.bytesSent > 500);
    assert.deepEqual(h.closed, [], 'no onClosed for a close we asked for');
  } finally {
    await bot.close();
  }
});

test('connect rejects fast on a server that accepts TCP but never upgrades', async () => {
  const sockets: Socket[] = [];
  const server = createServer((socket) => sockets.push(socket));
  const port = await listen(server);
  const h = harness(`ws://127.0.0.1:${port}/`, { connectTimeoutMs: 200 });
  const started = Date.now();
  try {
    await assert.rejects(h.connection.connect(), /200 ms|timed out|timeout/i);
    const took = Date.now() - started;
    assert.ok(took >= 150 && took < 1000, `rejected after ${took} ms`);
    assert.equal(sockets.length, 1, 'the TCP connection was made');
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
    await bot.until(() => bot.peers.length === 1, 'first upgrade');
    assert.equal(bot.peers[0]?.request.headers.authorization, 'Bearer tok-123');

    const hmac = harness(bot.url, { auth: { kind: 'hmac', secret: 's3cret' } });
    await hmac.connection.connect();
    const custom = harness(bot.url, { auth: { kind: 'hmac', secret: 's3cret', header: 'X-Bot-Sig' } });
    await custom.connection.connect();
    await bot.until(() => bot.peers.length === 3, 'signed upgrades');
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
    await bot.until(() => bot.peers.length === 1, 'connection');
    // The server stops reading: kernel buffers fill, then ws's own buffer grows.
    ((bot.peers[0] as BotPeer).connection as unknown as { _socket: Socket })._socket.pause();
    const total = 30_000;
    let slowest = 0;
    for (let i = 0; i < total; i++) {
      const before = performance.now();
      h.connection.sendCallerFrame(frame, frame);
      slowest = Math.max(slowest, performance.now() - before);
      // Let the event loop move bytes to the kernel now and then, as the media clock would.
      if (i % 1000 === 999) await delay(1);
    }
    const { framesSent, droppedFrames, queueDepth } = h.connection.stats;
    assert.ok(droppedFrames > 0, 'frames were dropped');
    assert.equal(framesSent + droppedFrames + queueDepth, total, 'every frame sent, dropped or queued');
    assert.ok(queueDepth <= 25, `queue bounded (${queueDepth})`);
    assert.ok(slowest < 50, `slowest sendCallerFrame ${slowest.toFixed(2)} ms`);

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

test('caller audio before connect or after close is dropped and counted, never thrown', () => {
  const h = harness('ws://127.0.0.1:9/');
  h.connection.sendCallerFrame(frame, frame);
  h.connection.sendDtmf('1');
  h.connection.close('never opened');
  h.connection.sendCallerFrame(frame, frame);
  assert.equal(h.connection.stats.droppedFrames, 2);
  assert.equal(h.connection.stats.bytesSent, 0);
});

test('hangup policy: the bot closing mid-call ends the call with backend-gone', async () => {
  const bot = await TestBot.start();
  const h = harness(bot.url, { reconnect: { policy: 'hangup' } });
  try {
    await h.connection.connect();
    await bot.until(() => bot.events().length === 2, 'start');
    bot.peers[0]?.connection.close(1011, 'bot crashed');
    await bot.until(() => h.closed.length === 1, 'onClosed');
    assert.match(h.closed[0] ?? '', /^backend-gone \(1011\)$/);
    await delay(100);
    assert.equal(bot.peers.length, 1, 'no reconnect');
    assert.equal(h.closed.length, 1, 'onClosed once');
  } finally {
    await bot.close();
  }
});

test('reconnect policy: a new socket gets a fresh connected and start, counted from 1', async () => {
  const bot = await TestBot.start();
  const h = harness(bot.url, { reconnect: { policy: 'reconnect', backoffMs: 20 } });
  try {
    await h.connection.connect();
    h.connection.sendCallerFrame(frame, frame);
    await bot.until(() => bot.events().length === 3, 'first media');
    bot.peers[0]?.connection.terminate();
    await bot.until(() => bot.events(1).length === 2, 'second start');
    assert.deepEqual(bot.events(1), ['connected', 'start']);
    const [first, second] = [bot.peers[0]?.messages[1], bot.peers[1]?.messages[1]] as Json[];
    assert.equal(second?.sequenceNumber, '1');
    assert.equal(second?.start.callSid, first?.start.callSid);
    await bot.until(() => h.connection.stats.reconnects === 1, 'reconnect counted');
    h.connection.sendCallerFrame(frame, frame);
    await bot.until(() => bot.events(1).length === 3, 'media on the new socket');
    assert.equal(bot.peers[1]?.messages[2]?.media.chunk, '1');
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
    await bot.until(() => bot.peers.length === 1, 'connection');
    // From now on the bot refuses every upgrade.
    bot.server.options.verifyClient = (_info: unknown, done: (ok: boolean, code?: number) => void) => {
      upgrades++;
      done(false, 503);
    };
    bot.peers[0]?.connection.terminate();
    await bot.until(() => h.closed.length === 1, 'onClosed');
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
    await bot.until(() => bot.peers.length === 1, 'connection');
    bot.peers[0]?.connection.terminate();
    await delay(30);
    h.connection.close('caller hung up');
    await delay(250);
    assert.equal(bot.peers.length, 1, 'no reconnect after close');
    assert.deepEqual(h.closed, []);
  } finally {
    await bot.close();
  }
});

test('invalid JSON, unknown events, a wrong streamSid and binary frames are counted and not passed on', async () => {
  const bot = await TestBot.start();
  const h = harness(bot.url);
  try {
    await h.connection.connect();
    await bot.until(() => bot.events().length === 2, 'start');
    const peer = bot.peers[0] as BotPeer;
    const streamSid = peer.messages[1]?.streamSid as string;
    peer.connection.send('{not json');
    peer.connection.send(JSON.stringify({ event: 'dance', streamSid }));
    peer.connection.send(JSON.stringify({ event: 'mark', streamSid: 'MZwrong', mark: { name: 'x' } }));
    peer.connection.send(Buffer.from([1, 2, 3]));
    peer.connection.send(JSON.stringify({ event: 'mark', streamSid, mark: { name: 'alive' } }));
    await bot.until(() => h.inputs.length === 1, 'the good mark');
    assert.deepEqual(h.inputs, [{ kind: 'mark', name: 'alive' }]);
    assert.equal(h.connection.stats.invalidMessages, 4);
    assert.equal(h.connection.stats.messagesReceived, 5);
    assert.deepEqual(h.closed, []);
    h.connection.close('done');
  } finally {
    await bot.close();
  }
});

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
    await bot.until(() => bot.events().length === 2, 'start');
    const peer = bot.peers[0] as BotPeer;
    const streamSid = peer.messages[1]?.streamSid as string;
    peer.connection.send(JSON.stringify({ event: 'clear', streamSid }));
    peer.connection.send(JSON.stringify({ event: 'clear', streamSid }));
    await bot.until(() => calls === 2, 'both messages');
    assert.deepEqual(h.closed, []);
    h.connection.close('done');
  } finally {
    await bot.close();
  }
});

test('a message over 1 MiB is refused with 1009 and counted; the reconnect policy keeps the call', async () => {
  const bot = await TestBot.start();
  const h = harness(bot.url, { reconnect: { policy: 'reconnect', backoffMs: 20 } });
  try {
    await h.connection.connect();
    await bot.until(() => bot.events().length === 2, 'start');
    const closedWith = new Promise<number>((resolve) => bot.peers[0]?.connection.once('close', resolve));
    bot.peers[0]?.connection.send(`{"event":"media","pad":"${'x'.repeat(1 << 20)}"}`);
    assert.equal(await closedWith, 1009);
    await bot.until(() => bot.events(1).length === 2, 'start on the new socket');
    assert.equal(h.connection.stats.invalidMessages, 1);
    assert.deepEqual(h.inputs, []);
    assert.deepEqual(h.closed, []);

    const hangup = harness(bot.url);
    await hangup.connection.connect();
    await bot.until(() => bot.peers.length === 3, 'third connection');
    bot.peers[2]?.connection.send(Buffer.alloc((1 << 20) + 1));
    await bot.until(() => hangup.closed.length === 1, 'hangup');
    assert.match(hangup.closed[0] ?? '', /^backend-gone \(1009, message over 1048576 bytes\)$/);
    h.connection.close('done');
  } finally {
    await bot.close();
  }
});

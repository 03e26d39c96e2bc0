/** The StreamConnection tests' shared harness: a loopback Twilio bot, a recording FakeClock, helpers. */
import assert from 'node:assert/strict';
import type { createServer as createHttpServer, IncomingMessage } from 'node:http';
import type { AddressInfo, Server, Socket } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  type BotInput,
  StreamConnection,
  type StreamConnectionOptions,
  TwilioDialect,
} from '../../src/stream/index.js';
import { FakeClock, type Logger, type TimerHandle } from '../../src/util/index.js';

// biome-ignore lint/suspicious/noExplicitAny: the tests walk arbitrary wire JSON
export type Json = Record<string, any>;

export const call = { callSid: 'CA0123', accountSid: 'AC0123', customParameters: { lang: 'en' } };
export const frame = new Int16Array(160);

/** A bot on loopback that records each connection's upgrade request and text messages. */
export interface BotPeer {
  connection: WebSocket;
  request: IncomingMessage;
  messages: Json[];
}

/**
 * Waits one event-loop turn at a time, so loopback I/O runs in between, until `predicate`
 * holds. Bounded by turns, not by wall time: a missing event fails the test instead of hanging.
 */
export async function until(predicate: () => boolean, what: string, maxTurns = 200_000): Promise<void> {
  for (let turn = 0; !predicate(); turn++) {
    if (turn >= maxTurns) throw new Error(`${what} did not happen within ${maxTurns} loop turns`);
    await nextTurn();
  }
}

export const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class TestBot {
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
export class RecordingClock extends FakeClock {
  readonly delays: number[] = [];

  override setTimer(delayMs: number, fn: () => void): TimerHandle {
    this.delays.push(delayMs);
    return super.setTimer(delayMs, fn);
  }
}

export interface Harness {
  connection: StreamConnection;
  clock: RecordingClock;
  inputs: BotInput[];
  closed: string[];
  /** Every log line's message, in order. */
  logs: string[];
}

export function harness(url: string, options: Partial<StreamConnectionOptions> = {}): Harness {
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
export async function withStartedStream(
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

export async function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Stops the bot reading its socket: kernel buffers fill, then the sender's own buffer grows. */
export function pauseReading(peer: BotPeer): Socket {
  const socket = (peer.connection as unknown as { _socket: Socket })._socket;
  socket.pause();
  return socket;
}

export function logCount(h: Harness, message: string): number {
  return h.logs.filter((line) => line === message).length;
}

/**
 * Once the `nth` `after` line is logged, checks that the armed backoff (the only timer while no
 * socket is open) is `backoffMs`, runs it out, and checks that a reconnect started.
 */
export async function runBackoff(h: Harness, backoffMs: number, after: string, nth = 1): Promise<void> {
  await until(() => logCount(h, after) >= nth && h.clock.pendingTimers() === 1, `backoff after ${after}`);
  assert.equal(h.clock.delays.at(-1), backoffMs, 'backoff');
  const armed = h.clock.delays.length;
  h.clock.advance(backoffMs - 1);
  assert.equal(h.clock.delays.length, armed, 'no reconnect before the backoff has run out');
  h.clock.advance(1);
  assert.equal(h.clock.delays.length, armed + 1, 'a reconnect started (its connect timeout armed)');
}

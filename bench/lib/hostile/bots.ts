/**
 * The hostile mix's misbehaving Twilio Media Streams bots, on one loopback WebSocket server,
 * told apart by URL path: `/junk` answers its `burst()` with a burst of bad messages of every
 * kind the gateway must shrug off, `/marks` with a second of audio and then a burst of marks
 * (all but 1,000 refused, the 1,000 due at once when the audio has played), `/sink` only
 * listens (the calls of the INVITE flood and the fuzz land there).
 */
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { SeededRandom } from '../../../src/util/index.js';

export const BAD_BOT_MESSAGES = [
  'invalid_json',
  'not_an_object',
  'unknown_event',
  'wrong_stream_sid',
  'binary_frame',
  'media_without_payload',
  'mark_without_name',
  'mark_name_too_long',
  'bad_command',
  'large_junk',
] as const;
export type BadBotMessage = (typeof BAD_BOT_MESSAGES)[number];

type BotKind = 'junk' | 'marks' | 'sink';

interface BotStream {
  socket: WebSocket;
  streamSid: string;
}

export interface HostileBotsReport {
  connections: Record<BotKind, number>;
  badMessages: Record<BadBotMessage, number>;
  marksSent: number;
  /** Mark echoes the gateway sent back to the marks bot. */
  marksEchoed: number;
  /** Echoes whose mark was sent before the one echoed previously (a Twilio bot relies on order). */
  marksOutOfOrder: number;
}

export class HostileBots {
  readonly report: HostileBotsReport = {
    connections: { junk: 0, marks: 0, sink: 0 },
    badMessages: Object.fromEntries(BAD_BOT_MESSAGES.map((kind) => [kind, 0])) as Record<
      BadBotMessage,
      number
    >,
    marksSent: 0,
    marksEchoed: 0,
    marksOutOfOrder: 0,
  };
  #lastEchoedMark = -1;
  readonly #server: WebSocketServer;
  readonly #random: SeededRandom;
  readonly #streams: Record<BotKind, BotStream[]> = { junk: [], marks: [], sink: [] };

  private constructor(server: WebSocketServer, seed: number) {
    this.#server = server;
    this.#random = new SeededRandom(seed);
    server.on('connection', (socket, request) => this.#serve(socket, request.url ?? '/'));
  }

  static async start(seed: number): Promise<HostileBots> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    return new HostileBots(server, seed);
  }

  url(kind: BotKind): string {
    return `ws://127.0.0.1:${(this.#server.address() as AddressInfo).port}/${kind}`;
  }

  /** Whether a `kind` bot has seen its stream start. */
  started(kind: BotKind): boolean {
    return this.#streams[kind].length > 0;
  }

  /** The junk bot sends `count` bad messages at once, of every kind in turn (seeded). */
  junkBurst(count: number): void {
    for (const { socket, streamSid } of this.#streams.junk) {
      for (let i = 0; i < count; i++) {
        const kind = BAD_BOT_MESSAGES[this.#random.int(0, BAD_BOT_MESSAGES.length - 1)] as BadBotMessage;
        this.report.badMessages[kind]++;
        const [data, binary] = this.#badMessage(kind, streamSid);
        socket.send(data, { binary });
      }
    }
  }

  /** The marks bot sends a second of audio, then `count` marks at once. */
  marksBurst(count: number): void {
    for (const { socket, streamSid } of this.#streams.marks) {
      const payload = Buffer.alloc(160, 0x2a).toString('base64');
      for (let i = 0; i < 50; i++)
        socket.send(JSON.stringify({ event: 'media', streamSid, media: { payload } }));
      for (let i = 0; i < count; i++) {
        socket.send(
          JSON.stringify({ event: 'mark', streamSid, mark: { name: `mark-${this.report.marksSent++}` } }),
        );
      }
    }
  }

  async close(): Promise<void> {
    for (const client of this.#server.clients) client.terminate();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #serve(socket: WebSocket, path: string): void {
    const kind: BotKind = path.startsWith('/junk') ? 'junk' : path.startsWith('/marks') ? 'marks' : 'sink';
    this.report.connections[kind]++;
    socket.on('error', () => undefined);
    socket.on('message', (data, isBinary) => {
      if (isBinary || kind === 'sink') return;
      const text = data.toString();
      if (text.includes('"event":"start"')) {
        const streamSid = (JSON.parse(text) as { streamSid: string }).streamSid;
        this.#streams[kind].push({ socket, streamSid });
      } else if (kind === 'marks' && text.includes('"event":"mark"')) this.#echoed(text);
    });
    socket.on('close', () => {
      this.#streams[kind] = this.#streams[kind].filter((stream) => stream.socket !== socket);
    });
  }

  #echoed(text: string): void {
    this.report.marksEchoed++;
    const index = Number(/"name":"mark-(\d+)"/.exec(text)?.[1] ?? -1);
    if (index <= this.#lastEchoedMark) this.report.marksOutOfOrder++;
    this.#lastEchoedMark = index;
  }

  #badMessage(kind: BadBotMessage, streamSid: string): [string | Buffer, boolean] {
    const random = this.#random;
    switch (kind) {
      case 'invalid_json':
        return [`{"event":"media","streamSid":"${streamSid}",`, false];
      case 'not_an_object':
        return [random.chance(0.5) ? '[1,2,3]' : 'x'.repeat(random.int(1, 200)), false];
      case 'unknown_event':
        return [JSON.stringify({ event: 'dance', streamSid }), false];
      case 'wrong_stream_sid':
        return [JSON.stringify({ event: 'media', streamSid: 'MZ0', media: { payload: 'AAAA' } }), false];
      case 'binary_frame':
        return [Buffer.from(Array.from({ length: random.int(1, 320) }, () => random.int(0, 255))), true];
      case 'media_without_payload':
        return [JSON.stringify({ event: 'media', streamSid, media: {} }), false];
      case 'mark_without_name':
        return [JSON.stringify({ event: 'mark', streamSid, mark: {} }), false];
      case 'mark_name_too_long':
        return [
          JSON.stringify({ event: 'mark', streamSid, mark: { name: 'n'.repeat(random.int(257, 4096)) } }),
          false,
        ];
      case 'bad_command':
        return [JSON.stringify({ event: 'patchbay', command: 'dtmf', digits: 'not digits' }), false];
      case 'large_junk':
        return [
          JSON.stringify({ event: 'junk', streamSid, junk: 'j'.repeat(random.int(10_000, 100_000)) }),
          false,
        ];
    }
  }
}

/**
 * A Twilio Media Streams bot for end-to-end tests: a real WebSocket server on loopback that
 * records every message the gateway sends (for strict protocol checks), decodes the caller's
 * audio, and on `start` plays a tone back (then a mark) so the test can find it on the RTP leg.
 */
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { decodeMulaw, encodeMulaw } from '../../../src/media/g711.js';
import { concatPcm, sine } from '../../helpers/audio.js';

export interface BotCall {
  messages: string[];
  callerAudio: Int16Array[];
  digits: string[];
  marks: string[];
  streamSid: string | undefined;
  callSid: string | undefined;
  customParameters: Record<string, string>;
  socket: WebSocket;
  stopped: boolean;
  closed: Promise<void>;
}

interface TwilioMessage {
  event: string;
  start?: { streamSid: string; callSid: string; customParameters: Record<string, string> };
  media?: { payload: string };
  dtmf?: { digit: string };
  mark?: { name: string };
}

export interface TestBotOptions {
  /** Tone played to the caller on `start` (Hz, ms); none when undefined. */
  reply?: { frequency: number; durationMs: number };
  /** A tone streamed in real time (one 20 ms frame every 20 ms) from `start` until the socket closes. */
  stream?: { frequency: number };
}

export class TestBot {
  readonly calls: BotCall[] = [];

  private constructor(
    private readonly server: WebSocketServer,
    readonly url: string,
  ) {}

  static async start(options: TestBotOptions = {}): Promise<TestBot> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const bot = new TestBot(server, `ws://127.0.0.1:${(server.address() as AddressInfo).port}/bot`);
    server.on('connection', (socket) => bot.#serve(socket, options));
    return bot;
  }

  async close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #serve(socket: WebSocket, options: TestBotOptions): void {
    let closedResolve!: () => void;
    const call: BotCall = {
      messages: [],
      callerAudio: [],
      digits: [],
      marks: [],
      streamSid: undefined,
      callSid: undefined,
      customParameters: {},
      socket,
      stopped: false,
      closed: new Promise((resolve) => {
        closedResolve = resolve;
      }),
    };
    this.calls.push(call);
    socket.on('close', () => closedResolve());
    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      call.messages.push(text);
      const message = JSON.parse(text) as TwilioMessage;
      switch (message.event) {
        case 'start': {
          call.streamSid = message.start?.streamSid;
          call.callSid = message.start?.callSid;
          call.customParameters = message.start?.customParameters ?? {};
          if (options.stream) this.#streamTone(call, options.stream.frequency);
          if (options.reply) this.#playTone(call, options.reply.frequency, options.reply.durationMs);
          break;
        }
        case 'media':
          call.callerAudio.push(decodeMulaw(Buffer.from(message.media?.payload ?? '', 'base64')));
          break;
        case 'dtmf':
          call.digits.push(message.dtmf?.digit ?? '?');
          break;
        case 'mark':
          call.marks.push(message.mark?.name ?? '?');
          break;
        case 'stop':
          call.stopped = true;
      }
    });
  }

  #streamTone(call: BotCall, frequency: number): void {
    const frame = Buffer.from(encodeMulaw(sine(frequency, 8000, 160, 8000))).toString('base64');
    const message = JSON.stringify({ event: 'media', streamSid: call.streamSid, media: { payload: frame } });
    const timer = setInterval(() => {
      if (call.socket.readyState === call.socket.OPEN) call.socket.send(message);
    }, 20);
    call.socket.once('close', () => clearInterval(timer));
  }

  #playTone(call: BotCall, frequency: number, durationMs: number): void {
    const pcm = sine(frequency, 8000, (8000 * durationMs) / 1000, 8000);
    const mulaw = encodeMulaw(pcm);
    for (let offset = 0; offset < mulaw.length; offset += 160) {
      const payload = Buffer.from(mulaw.subarray(offset, offset + 160)).toString('base64');
      call.socket.send(JSON.stringify({ event: 'media', streamSid: call.streamSid, media: { payload } }));
    }
    call.socket.send(
      JSON.stringify({ event: 'mark', streamSid: call.streamSid, mark: { name: 'tone-done' } }),
    );
  }
}

/** All caller audio of a call as one buffer. */
export function joinedAudio(call: BotCall): Int16Array {
  return concatPcm(call.callerAudio);
}

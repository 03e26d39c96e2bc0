import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { encodeMulaw } from '../media/index.js';
import type { Logger } from '../util/index.js';

/**
 * The built-in demo bot of the embedded default config: a Twilio Media Streams bot that
 * greets the caller with a short tone, plays the caller's own voice back after `echoDelayMs`,
 * and answers each DTMF digit with that digit's dual tone followed by a mark. It speaks
 * the same protocol as any external bot, over a real WebSocket on loopback.
 */

const SAMPLE_RATE = 8000;
const FRAME_SAMPLES = 160;
const FRAME_BYTES = FRAME_SAMPLES;

// ITU-T Q.23 DTMF frequency pairs.
const DTMF_LOW: Record<string, number> = { 1: 697, 2: 697, 3: 697, A: 697, 4: 770, 5: 770, 6: 770, B: 770 };
const DTMF_ROW3: Record<string, number> = {
  7: 852,
  8: 852,
  9: 852,
  C: 852,
  '*': 941,
  0: 941,
  '#': 941,
  D: 941,
};
const DTMF_HIGH: Record<string, number> = {
  1: 1209,
  4: 1209,
  7: 1209,
  '*': 1209,
  2: 1336,
  5: 1336,
  8: 1336,
  0: 1336,
  3: 1477,
  6: 1477,
  9: 1477,
  '#': 1477,
  A: 1633,
  B: 1633,
  C: 1633,
  D: 1633,
};

/** Sums sine tones into µ-law bytes, with 5 ms raised-cosine edges so the tone does not click. */
function toneMulaw(frequencies: number[], durationMs: number, amplitude = 6000): Uint8Array {
  const samples = Math.round((durationMs * SAMPLE_RATE) / 1000);
  const pcm = new Int16Array(samples);
  const ramp = SAMPLE_RATE / 200;
  for (let i = 0; i < samples; i++) {
    const edge = Math.min(1, i / ramp, (samples - 1 - i) / ramp);
    const envelope = 0.5 - 0.5 * Math.cos(Math.PI * Math.max(0, edge));
    let value = 0;
    for (const f of frequencies) value += Math.sin((2 * Math.PI * f * i) / SAMPLE_RATE);
    pcm[i] = Math.round((amplitude * envelope * value) / frequencies.length);
  }
  return encodeMulaw(pcm);
}

function dtmfFrequencies(digit: string): [number, number] | undefined {
  const key = digit.toUpperCase();
  const low = DTMF_LOW[key] ?? DTMF_ROW3[key];
  const high = DTMF_HIGH[key];
  return low !== undefined && high !== undefined ? [low, high] : undefined;
}

interface EchoBotOptions {
  echoDelayMs?: number;
  logger?: Logger;
}

export class EchoBot {
  readonly #server: WebSocketServer;

  private constructor(
    server: WebSocketServer,
    readonly url: string,
  ) {
    this.#server = server;
  }

  static async start(options: EchoBotOptions = {}): Promise<EchoBot> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.once('listening', () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Later server errors (a client's broken handshake) are logged, never thrown.
    server.on('error', (error) => options.logger?.warn({ err: error.message }, 'demo bot: server error'));
    const port = (server.address() as AddressInfo).port;
    const delayFrames = Math.max(0, Math.round((options.echoDelayMs ?? 600) / 20));
    server.on('connection', (socket) => serveCall(socket, delayFrames, options.logger));
    return new EchoBot(server, `ws://127.0.0.1:${port}/echo`);
  }

  async close(): Promise<void> {
    for (const client of this.#server.clients) client.terminate();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function serveCall(socket: WebSocket, delayFrames: number, logger?: Logger): void {
  let streamSid: string | undefined;
  let warnedNotJson = false;
  const echoQueue: string[] = [];
  const sendAudio = (mulaw: Uint8Array): void => {
    if (!streamSid) return;
    for (let offset = 0; offset < mulaw.length; offset += FRAME_BYTES) {
      const payload = Buffer.from(mulaw.subarray(offset, offset + FRAME_BYTES)).toString('base64');
      socket.send(JSON.stringify({ event: 'media', streamSid, media: { payload } }));
    }
  };

  socket.on('message', (data, isBinary) => {
    if (isBinary) return;
    let message: {
      event?: string;
      streamSid?: string;
      media?: { payload?: string };
      dtmf?: { digit?: string };
    };
    try {
      message = JSON.parse(String(data));
    } catch {
      // Once per call: a peer sending nothing but junk must not write a line per frame.
      if (!warnedNotJson) logger?.warn({}, 'demo bot: ignoring frames that are not JSON');
      warnedNotJson = true;
      return;
    }
    switch (message.event) {
      case 'start':
        streamSid = message.streamSid;
        sendAudio(toneMulaw([440], 200));
        socket.send(JSON.stringify({ event: 'mark', streamSid, mark: { name: 'greeting' } }));
        break;
      case 'media': {
        const payload = message.media?.payload;
        if (typeof payload !== 'string') return;
        echoQueue.push(payload);
        // The caller's own frames pace the echo: one out for each one in, `delayFrames` behind.
        if (echoQueue.length > delayFrames && streamSid) {
          socket.send(JSON.stringify({ event: 'media', streamSid, media: { payload: echoQueue.shift() } }));
        }
        // Frames before `start` have no stream to go to: only the last delay's worth is kept.
        if (echoQueue.length > delayFrames) echoQueue.shift();
        break;
      }
      case 'dtmf': {
        const digit = message.dtmf?.digit ?? '';
        const pair = dtmfFrequencies(digit);
        if (!pair) return;
        sendAudio(toneMulaw(pair, 160));
        socket.send(JSON.stringify({ event: 'mark', streamSid, mark: { name: `dtmf-${digit}` } }));
        break;
      }
      case 'stop':
        socket.close(1000);
        break;
    }
  });
  socket.on('error', (error) => logger?.warn({ err: error }, 'demo bot socket error'));
}

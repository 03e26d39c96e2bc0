/**
 * The load bench's bot, in its own process: a Twilio Media Streams server on loopback that
 * sends every `media` payload straight back on the same stream (as `src/demo/echo-bot.ts`
 * does, without its delay or greeting). Before echoing a tagged frame it measures the
 * caller->bot latency (arrival at this socket minus the caller's send time) and writes its own
 * send time into the tag, so the caller can measure bot->caller.
 *
 *   node [loader] bench/load/echo-bot.ts
 *
 * Prints {"url"} once listening. Commands on stdin: `window START_US END_US` (count frames
 * sent in that window from now on), `report` (prints the window's figures). Exits when stdin
 * closes.
 */
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import type { BotReport } from './bot-process.js';
import { answer, serveCommands } from './child.js';
import { FrameStats } from './frame-stats.js';
import { findTags, nowUs, writeTag } from './frame-tag.js';
import { LatencyTimeline } from './timeline.js';

interface TwilioMessage {
  event?: string;
  streamSid?: string;
  media?: { payload?: string };
}

const callerToBot = new FrameStats();
let timeline = new LatencyTimeline(0);
let echoed = 0;
let invalid = 0;

function serve(socket: WebSocket): void {
  let streamSid = '';
  socket.on('message', (data, isBinary) => {
    const arrivalUs = nowUs();
    let message: TwilioMessage;
    try {
      message = isBinary ? {} : (JSON.parse(String(data)) as TwilioMessage);
    } catch {
      invalid++;
      return;
    }
    if (message.event === 'start') streamSid = message.streamSid ?? '';
    if (message.event !== 'media') return;
    if (typeof message.media?.payload !== 'string') {
      invalid++;
      return;
    }
    const payload = Buffer.from(message.media.payload, 'base64');
    // Each frame carries two copies of its tag; after the gateway's shifts a payload may hold
    // copies of two frames. Each frame is counted once (FrameStats skips the repeat).
    const botSentUs = nowUs();
    for (const { at, tag } of findTags(payload)) {
      const fresh = callerToBot.observe(tag.call, tag.callerSentUs, tag.callerSentUs, arrivalUs);
      if (fresh) timeline.add(0, tag.callerSentUs, arrivalUs - tag.callerSentUs);
      writeTag(payload, at, { ...tag, botSentUs });
      if (fresh && callerToBot.inWindow(botSentUs)) echoed++;
    }
    socket.send(
      `{"event":"media","streamSid":"${streamSid}","media":{"payload":"${payload.toString('base64')}"}}`,
    );
  });
  socket.on('error', () => undefined);
}

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
server.on('connection', serve);
server.once('listening', () =>
  answer({ url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/load` }),
);

serveCommands(
  ([command, start, end]) => {
    if (command === 'window') {
      callerToBot.setWindow(Number(start), Number(end));
      timeline = new LatencyTimeline(Number(start));
      echoed = 0;
      invalid = 0;
    } else if (command === 'report') {
      answer({
        callerToBot: callerToBot.figures(),
        echoed,
        invalid,
        timeline: timeline.seconds(),
      } satisfies BotReport);
    }
  },
  () => {
    for (const client of server.clients) client.terminate();
    server.close(() => process.exit(0));
  },
);

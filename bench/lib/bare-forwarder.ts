/**
 * The floor of bench/load: the simplest honest RTP <-> Twilio Media Streams bridge in Node, in
 * its own process so its CPU and memory can be read from /proc like the gateway's. Per call,
 * one UDP socket and one `ws` client; every 20 ms one ticker forwards whatever arrived: RTP
 * payloads to the bot as base64 in a template-string `media` message, the bot's payloads back
 * to the caller (its address latched from its first packet) behind a fresh RTP header. No
 * jitter buffer, decoding, pacing, marks or statistics.
 *
 *   node [loader] bench/lib/bare-forwarder.ts BOT_URL
 *
 * Prints {"ready"} once started. Commands on stdin: `open CALLS` opens that many streams and
 * prints {"ports"} (null for a call whose bot socket failed); `status` prints the event-loop
 * delay p99 since the previous `status` and how many bot sockets closed. Exits when stdin closes.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import { LOOP_DELAY_RESOLUTION_MS, loopDelayMs } from '../../src/util/index.js';
import { answer, serveCommands } from '../load/child.js';

const FRAME_MS = 20;
const RTP_HEADER_BYTES = 12;
/** Frames waiting per direction; a stalled side loses its oldest. */
const MAX_QUEUED = 50;

interface Bridge {
  socket: Socket;
  ws: WebSocket;
  streamSid: string;
  caller: RemoteInfo | undefined;
  toBot: Buffer[];
  toCaller: Buffer[];
  /** Twilio's per-stream media counter. */
  chunk: number;
  rtpSeq: number;
  rtpTimestamp: number;
  ssrc: number;
}

const botUrl = process.argv[2] ?? '';
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
loopDelay.enable();
const bridges: Array<Bridge | undefined> = [];
let closedEarly = 0;
let stopping = false;

function push(queue: Buffer[], frame: Buffer): void {
  queue.push(frame);
  if (queue.length > MAX_QUEUED) queue.shift();
}

async function openBridge(call: number): Promise<Bridge | undefined> {
  const socket = createSocket('udp4');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const ws = new WebSocket(botUrl, { perMessageDeflate: false });
  const opened = await new Promise<boolean>((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('error', () => resolve(false));
  });
  if (!opened) {
    socket.close();
    return undefined;
  }
  const streamSid = `MZ${call}`;
  const bridge: Bridge = {
    socket,
    ws,
    streamSid,
    caller: undefined,
    toBot: [],
    toCaller: [],
    chunk: 0,
    rtpSeq: 0,
    rtpTimestamp: 0,
    ssrc: 0x20000 + call,
  };
  ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
  ws.send(
    JSON.stringify({
      event: 'start',
      sequenceNumber: '1',
      start: {
        streamSid,
        accountSid: 'AC',
        callSid: `CA${call}`,
        tracks: ['inbound'],
        customParameters: {},
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      },
      streamSid,
    }),
  );
  socket.on('message', (packet, from) => {
    bridge.caller = from;
    const headerBytes = RTP_HEADER_BYTES + 4 * ((packet[0] ?? 0) & 0x0f);
    if (packet.length > headerBytes) push(bridge.toBot, packet.subarray(headerBytes));
  });
  ws.on('message', (data) => {
    try {
      const message = JSON.parse(String(data)) as { event?: string; media?: { payload?: string } };
      if (message.event === 'media' && typeof message.media?.payload === 'string')
        push(bridge.toCaller, Buffer.from(message.media.payload, 'base64'));
    } catch {
      // Not JSON: a bridge ignores it.
    }
  });
  ws.once('close', () => {
    if (!stopping) closedEarly++;
  });
  return bridge;
}

function forward(bridge: Bridge): void {
  for (const payload of bridge.toBot.splice(0)) {
    bridge.chunk++;
    bridge.ws.send(
      `{"event":"media","sequenceNumber":"${bridge.chunk + 1}","media":{"track":"inbound","chunk":"${bridge.chunk}","timestamp":"${bridge.chunk * FRAME_MS}","payload":"${payload.toString('base64')}"},"streamSid":"${bridge.streamSid}"}`,
    );
  }
  const caller = bridge.caller;
  for (const payload of bridge.toCaller.splice(0)) {
    if (!caller) continue;
    const packet = Buffer.allocUnsafe(RTP_HEADER_BYTES + payload.length);
    packet[0] = 0x80;
    packet[1] = 0; // PCMU
    packet.writeUInt16BE(bridge.rtpSeq, 2);
    packet.writeUInt32BE(bridge.rtpTimestamp, 4);
    packet.writeUInt32BE(bridge.ssrc, 8);
    payload.copy(packet, RTP_HEADER_BYTES);
    bridge.socket.send(packet, caller.port, caller.address);
    bridge.rtpSeq = (bridge.rtpSeq + 1) & 0xffff;
    bridge.rtpTimestamp = (bridge.rtpTimestamp + payload.length) >>> 0;
  }
}

async function openBridges(calls: number): Promise<void> {
  for (let call = 0; call < calls; call++) bridges.push(await openBridge(call));
  answer({ ports: bridges.map((bridge) => bridge?.socket.address().port ?? null) });
}

const ticker = setInterval(() => {
  for (const bridge of bridges) if (bridge) forward(bridge);
}, FRAME_MS);
answer({ ready: true });

serveCommands(
  ([command, argument]) => {
    if (command === 'open' && bridges.length === 0) void openBridges(Number(argument));
    if (command !== 'status') return;
    // Read as the gateway's lag metric reads its own: the monitor's interval taken off.
    answer({ lagP99Ms: loopDelayMs(loopDelay, 99), closedEarly });
    loopDelay.reset();
  },
  () => {
    stopping = true;
    clearInterval(ticker);
    for (const bridge of bridges) {
      bridge?.ws.terminate();
      bridge?.socket.close();
    }
    process.exit(0);
  },
);

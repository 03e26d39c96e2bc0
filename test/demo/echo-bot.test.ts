import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { EchoBot } from '../../src/demo/index.js';
import { decodeMulaw, encodeMulaw } from '../../src/media/index.js';
import { sine, tonePower } from '../helpers/audio.js';

let bot: EchoBot;
before(async () => {
  bot = await EchoBot.start({ echoDelayMs: 100 });
});
after(() => bot.close());

interface BotMessage {
  event: string;
  streamSid: string;
  media?: { payload: string };
  mark?: { name: string };
}

async function openCall(): Promise<{ socket: WebSocket; received: BotMessage[] }> {
  const socket = new WebSocket(bot.url);
  const received: BotMessage[] = [];
  socket.on('message', (data) => received.push(JSON.parse(String(data))));
  await new Promise((resolve) => socket.once('open', resolve));
  socket.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
  socket.send(
    JSON.stringify({ event: 'start', sequenceNumber: '1', streamSid: 'MZ1', start: { streamSid: 'MZ1' } }),
  );
  return { socket, received };
}

async function waitFor(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !predicate(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(predicate(), 'condition not reached within 1 s');
}

test('greets with a tone and a mark, then echoes the caller after the delay', async () => {
  const { socket, received } = await openCall();
  await waitFor(() => received.some((m) => m.event === 'mark'));
  assert.equal(received.filter((m) => m.event === 'media').length, 10, '200 ms greeting = 10 frames');
  const greetingCount = received.length;
  const frame = Buffer.from(encodeMulaw(sine(700, 8000, 160))).toString('base64');
  for (let i = 0; i < 8; i++) {
    socket.send(JSON.stringify({ event: 'media', streamSid: 'MZ1', media: { payload: frame } }));
  }
  await waitFor(() => received.length >= greetingCount + 3);
  const echoes = received.slice(greetingCount);
  assert.equal(echoes.length, 3, '8 frames in, 5-frame delay: 3 echoed');
  assert.ok(echoes.every((m) => m.event === 'media' && m.media?.payload === frame && m.streamSid === 'MZ1'));
  socket.close();
});

test('answers a DTMF digit with its dual tone and a mark, and ignores garbage', async () => {
  const { socket, received } = await openCall();
  await waitFor(() => received.some((m) => m.mark?.name === 'greeting'));
  const before = received.length;
  socket.send('not json');
  socket.send(
    JSON.stringify({ event: 'dtmf', streamSid: 'MZ1', dtmf: { track: 'inbound_track', digit: '5' } }),
  );
  await waitFor(() => received.some((m) => m.mark?.name === 'dtmf-5'));
  const tone = received.slice(before).filter((m) => m.event === 'media');
  const pcm = decodeMulaw(Buffer.concat(tone.map((m) => Buffer.from(m.media?.payload ?? '', 'base64'))));
  const row = tonePower(pcm, 8000, 770);
  const column = tonePower(pcm, 8000, 1336);
  const other = tonePower(pcm, 8000, 1209);
  assert.ok(row > 50 * other && column > 50 * other, `digit 5 is 770+1336 Hz (${row}, ${column}, ${other})`);
  socket.close();
});

test('keeps only the last delay of frames sent before start, and echoes from there', async () => {
  const socket = new WebSocket(bot.url);
  const received: BotMessage[] = [];
  socket.on('message', (data) => received.push(JSON.parse(String(data))));
  await new Promise((resolve) => socket.once('open', resolve));
  const frame = (n: number) => Buffer.alloc(160, n).toString('base64');
  // 100 ms of delay is 5 frames: of the 20 sent before start, frames 15-19 are kept.
  for (let n = 0; n < 20; n++)
    socket.send(JSON.stringify({ event: 'media', streamSid: 'MZ1', media: { payload: frame(n) } }));
  socket.send(
    JSON.stringify({ event: 'start', sequenceNumber: '1', streamSid: 'MZ1', start: { streamSid: 'MZ1' } }),
  );
  await waitFor(() => received.some((m) => m.event === 'mark'));
  socket.send(JSON.stringify({ event: 'media', streamSid: 'MZ1', media: { payload: frame(20) } }));
  await waitFor(() => received.length > 11);
  assert.equal(received[11]?.media?.payload, frame(15), 'the oldest frame kept, not the first one sent');
  socket.close();
});

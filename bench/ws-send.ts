/**
 * The caller's Twilio `media` message to the bot, per 20 ms frame: CPU time and bytes allocated
 * in the sending process (the gateway's side) for
 *  - JSON.stringify of a fresh object with base64 from Buffer.toString, sent as a string (what
 *    the twilio dialect did before),
 *  - TwilioDialect.callerAudioFrame: the message written from a template into a reused buffer,
 *    sent as a text frame by ws.send (what StreamConnection did before),
 *  - the same message framed by ClientFrameWriter and written to the connection under ws, as
 *    StreamConnection sends caller audio now,
 *  - the floor: one prebuilt message Buffer sent again and again by ws.send.
 * All over a real loopback WebSocket as patchbay uses it (client side, so ws masks every frame),
 * to a bot in its own process that counts what arrives; 50 messages per event-loop turn.
 *
 *   node --expose-gc --max-semi-space-size=64 --min-semi-space-size=64 --import tsx bench/ws-send.ts [rounds=5]
 */
import { fork } from 'node:child_process';
import { WebSocketServer } from 'ws';
import { encodeMulaw } from '../src/media/index.js';
import { ClientFrameWriter, openBotSocket, TEXT_OPCODE, TwilioDialect } from '../src/stream/index.js';
import { SystemClock } from '../src/util/index.js';
import { stringifiedMediaMessage } from '../test/helpers/twilio-media.js';
import { AllocationMeter, median } from './lib/alloc-meter.js';

if (process.argv[2] === 'bot') {
  // The bot: counts messages, tells the parent its port and, when asked, the count.
  let received = 0;
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  server.on('connection', (socket) => socket.on('message', () => received++));
  server.on('listening', () => process.send?.({ port: (server.address() as { port: number }).port }));
  process.on('message', () => process.send?.({ received }));
} else {
  await main();
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 5);
  const MESSAGES = 5000;
  const PER_TURN = 50;
  const TEXT_FRAME = { binary: false } as const;

  const bot = fork(new URL(import.meta.url).pathname, ['bot'], {
    execArgv: process.execArgv.filter((a) => !a.startsWith('--max-semi') && !a.startsWith('--min-semi')),
  });
  const port = await new Promise<number>((resolve) =>
    bot.once('message', (m: { port: number }) => resolve(m.port)),
  );
  const botCount = () =>
    new Promise<number>((resolve) => {
      bot.once('message', (m: { received: number }) => resolve(m.received));
      bot.send('count');
    });
  const { socket, connection } = await openBotSocket({
    url: `ws://127.0.0.1:${port}`,
    clock: new SystemClock(),
  }).opened;
  const writer = new ClientFrameWriter(connection);

  const dialect = new TwilioDialect();
  dialect.open({ callSid: 'CA0', accountSid: 'AC0', customParameters: {} });
  const frame = Int16Array.from({ length: 160 }, (_, i) => Math.round(8000 * Math.sin(i / 3)));
  const prebuilt = Buffer.from(dialect.callerAudio(frame) as string);
  let chunk = 0;
  let sequence = 1;

  const cases: Record<string, () => void> = {
    'prebuilt Buffer (floor)': () => socket.send(prebuilt, TEXT_FRAME),
    'JSON.stringify per frame (before)': () => {
      chunk++;
      sequence++;
      socket.send(stringifiedMediaMessage(dialect.streamSid, sequence, chunk, encodeMulaw(frame)));
    },
    'template into reused buffer, ws.send (before)': () =>
      socket.send(dialect.callerAudioFrame(frame), TEXT_FRAME),
    'template, ClientFrameWriter (now)': () => writer.send(dialect.callerAudioFrame(frame), TEXT_OPCODE),
  };

  let sent = 0;
  const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
  const sendMessages = async (send: () => void, count: number) => {
    for (let i = 0; i < count; i++) {
      send();
      sent++;
      if (i % PER_TURN === PER_TURN - 1) await nextTurn();
    }
  };
  /** Waits until the bot has everything, so one case's backlog is not the next one's cost. */
  const drained = async () => {
    while ((await botCount()) < sent) await new Promise((resolve) => setTimeout(resolve, 20));
  };

  const meter = new AllocationMeter();
  const micros = new Map<string, number[]>();
  const bytes = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const [name, send] of Object.entries(cases)) {
      await sendMessages(send, 1000);
      await drained();
      const cpu = process.cpuUsage();
      await sendMessages(send, MESSAGES);
      const used = process.cpuUsage(cpu);
      micros.set(name, [...(micros.get(name) ?? []), (used.user + used.system) / MESSAGES]);
      await drained();
      bytes.set(name, [
        ...(bytes.get(name) ?? []),
        await meter.perOperation((n) => sendMessages(send, n), MESSAGES),
      ]);
      await drained();
    }
  }
  socket.close();
  bot.kill();
  const floor = median(micros.get('prebuilt Buffer (floor)') ?? []);
  console.log(
    `ws-send: Node ${process.version}, ${rounds} rounds of ${MESSAGES} messages, medians; loadavg ${(
      await import('node:os')
    )
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}\n`,
  );
  console.log('| case | CPU µs per message | x floor | bytes allocated per message |');
  console.log('| --- | --- | --- | --- |');
  for (const name of Object.keys(cases)) {
    const us = median(micros.get(name) ?? []);
    console.log(
      `| ${name} | ${us.toFixed(2)} | ${(us / floor).toFixed(2)} | ${median(bytes.get(name) ?? []).toFixed(0)} |`,
    );
  }
}

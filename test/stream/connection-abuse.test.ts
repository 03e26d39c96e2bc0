/** StreamConnection against bad bot input: junk, bursts, oversize messages, talk after stop. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BotInput } from '../../src/stream/index.js';
import {
  type BotPeer,
  type Harness,
  harness,
  logCount,
  pauseReading,
  runBackoff,
  TestBot,
  until,
  withStartedStream,
} from './connection-harness.js';

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

test('after stop nothing the bot sends is parsed or passed on: counted, not logged, then the close completes', () =>
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
    // Counted, not logged: frames in flight as `stop` went are no fault of the bot's.
    assert.equal(h.logs.length, 0);
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

/**
 * Datagrams waiting for the parser are served one source at a time: a quiet source's OPTIONS
 * that reached the socket after a backlog from busy sources is handled ahead of most of that
 * backlog, not behind all of it as in the kernel's one FIFO. Judged by the order in which the
 * transport handed requests on (each busy request costs 2 ms of handling), not by time.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { test } from 'node:test';
import { SipTransport } from '../../../src/sip/transport/index.js';
import { silentLogger } from '../../../src/util/index.js';

function options(from: string, branch: string): Buffer {
  return Buffer.from(
    [
      'OPTIONS sip:sink@127.0.0.1 SIP/2.0',
      `Via: SIP/2.0/UDP ${from}:5999;branch=z9hG4bK-${branch}`,
      'Max-Forwards: 70',
      `From: <sip:a@${from}>;tag=1`,
      'To: <sip:sink@127.0.0.1>',
      `Call-ID: ${branch}@fairness`,
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

async function bound(address: string): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  return socket;
}

test("a quiet source's request is handled within a round of a backlog from busy sources", async () => {
  const transport = new SipTransport({
    listen: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
    logger: silentLogger,
  });
  const handled: string[] = [];
  transport.onMessage((message) => {
    const from = message.isRequest ? (message.topVia()?.host ?? '?') : '?';
    handled.push(from);
    if (from !== '127.0.0.9') {
      const until = performance.now() + 2;
      while (performance.now() < until) {
        // a costly request: what a parse and a refusal cost under a fuzz mix, exaggerated
      }
    }
  });
  await transport.start();
  const port = transport.local('udp')?.port ?? 0;
  const busy = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'].map(bound));
  const quiet = await bound('127.0.0.9');
  try {
    // 4 sources x 25 requests, then the quiet one's: all in the socket before it is read
    // (100 small datagrams fit the kernel's default receive buffer).
    busy.forEach((socket, s) => {
      for (let i = 0; i < 25; i++)
        socket.send(options(`127.0.0.${s + 2}`, `busy-${s}-${i}`), port, '127.0.0.1');
    });
    quiet.send(options('127.0.0.9', 'quiet'), port, '127.0.0.1');
    for (let turn = 0; !handled.includes('127.0.0.9'); turn++) {
      if (turn > 100_000) assert.fail(`the quiet request never came (${handled.length} handled)`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const position = handled.indexOf('127.0.0.9');
    // In one FIFO it would come 101st. Served by source, it waits for the requests read before
    // it (the socket is read 32 datagrams per loop turn, each turn handles 1 ms of work) and one
    // round of the four busy sources.
    assert.ok(position < 30, `the quiet request was handled ${position + 1}th of ${handled.length}`);
  } finally {
    for (const socket of [...busy, quiet]) socket.close();
    await transport.close();
  }
});

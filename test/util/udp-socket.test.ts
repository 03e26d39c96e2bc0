import assert from 'node:assert/strict';
import type { Socket } from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import { createUdpSocket } from '../../src/util/index.js';

function bound(address: string): Promise<Socket> {
  const socket = createUdpSocket(address);
  return new Promise((resolve) => socket.bind(0, address, () => resolve(socket)));
}

async function boundReceiver() {
  const receiver = await bound('127.0.0.1');
  return { receiver, port: receiver.address().port };
}

test('a datagram to an IP literal leaves within send(): closing the socket right after loses nothing', async (t) => {
  const { receiver, port } = await boundReceiver();
  t.after(() => receiver.close());
  const sender = await bound('127.0.0.1');
  const marker = await bound('127.0.0.1');
  t.after(() => marker.close());
  const arrived = once(receiver, 'message');
  // Through dns.lookup the send would wait for the next tick and find the socket closed.
  sender.send(Buffer.from('now'), port, '127.0.0.1');
  sender.close();
  await new Promise<void>((resolve) => marker.send(Buffer.from('after'), port, '127.0.0.1', () => resolve()));
  const [data] = await arrived;
  assert.equal(data.toString(), 'now', 'the first datagram on the receiver is the one sent before close');
});

test('a destination given by name is still resolved', async (t) => {
  const { receiver, port } = await boundReceiver();
  const sender = createUdpSocket('127.0.0.1');
  t.after(() => {
    receiver.close();
    sender.close();
  });
  const arrived = once(receiver, 'message');
  sender.send(Buffer.from('named'), port, 'localhost');
  const [data] = await arrived;
  assert.equal(data.toString(), 'named');
});

test('an IPv6 bind address gives a udp6 socket', async (t) => {
  const socket = await bound('::1');
  t.after(() => socket.close());
  assert.equal(socket.address().family, 'IPv6');
});

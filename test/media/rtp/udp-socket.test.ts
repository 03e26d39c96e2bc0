import assert from 'node:assert/strict';
import type { LookupOneOptions } from 'node:dns';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { literalFirstLookup, udpSocket } from '../../../src/media/rtp/udp-socket.js';

function ask(
  lookup: ReturnType<typeof literalFirstLookup>,
  hostname: string,
  family: number,
): { answered: () => boolean; result: Promise<[Error | null, string, number]> } {
  let answered = false;
  const result = new Promise<[Error | null, string, number]>((resolve) => {
    // dgram passes the socket's family where dns.lookup takes options
    lookup(hostname, family as unknown as LookupOneOptions, (error, address, addressFamily) => {
      answered = true;
      resolve([error, address, addressFamily]);
    });
  });
  return { answered: () => answered, result };
}

describe('literalFirstLookup', () => {
  it('answers an IP literal before returning, again without parsing it', async () => {
    const lookup = literalFirstLookup();
    for (const [address, family] of [
      ['127.0.0.1', 4],
      ['127.0.0.1', 4],
      ['::1', 6],
      ['10.1.2.3', 4],
    ] as const) {
      const asked = ask(lookup, address, family);
      assert.equal(asked.answered(), true, address);
      assert.deepEqual(await asked.result, [null, address, family]);
    }
  });

  it('hands a host name to dns.lookup, which answers later', async () => {
    const asked = ask(literalFirstLookup(), 'localhost', 4);
    assert.equal(asked.answered(), false);
    const [error, address, family] = await asked.result;
    assert.equal(error, null);
    assert.equal(family, 4);
    assert.match(address, /^127\./);
  });

  it('a name that does not resolve fails the send as dns.lookup would', async () => {
    const [error] = await ask(literalFirstLookup(), 'no-such-host.invalid', 4).result;
    assert.ok(error);
  });
});

describe('udpSocket', () => {
  it('sends to an IP literal and to a name', async () => {
    const receiver = udpSocket('127.0.0.1', 64 * 1024);
    const sender = udpSocket('127.0.0.1', 64 * 1024);
    await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', resolve));
    const { port } = receiver.address();
    try {
      for (const address of ['127.0.0.1', 'localhost']) {
        const received = once(receiver, 'message');
        sender.send(Buffer.from(address), port, address);
        const [message] = (await received) as [Buffer];
        assert.equal(message.toString(), address);
      }
    } finally {
      receiver.close();
      sender.close();
    }
  });
});

/**
 * Client frames written straight to a bot's connection (RFC 6455 §5.2, §5.3): read back byte
 * by byte from a real loopback socket, backed up behind a peer that does not read, and mixed
 * with ws's own messages on a real WebSocket.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer, type Socket, connect as tcpConnect } from 'node:net';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import { WebSocketServer } from 'ws';
import { BINARY_OPCODE, ClientFrameWriter, FrameRun, TEXT_OPCODE } from '../../src/stream/client-frames.js';
import { openBotSocket } from '../../src/stream/open-bot-socket.js';
import { FakeClock } from '../../src/util/index.js';
import { pkiForSuite, skipWithoutOpenssl } from '../helpers/test-pki.js';

interface ReadFrame {
  fin: boolean;
  opcode: number;
  key: Buffer;
  payload: Buffer;
}

/** Reads masked frames off `bytes` (§5.2); throws on an unmasked or truncated one. */
function readFrames(bytes: Buffer): ReadFrame[] {
  const frames: ReadFrame[] = [];
  let at = 0;
  while (at < bytes.length) {
    const first = bytes[at] as number;
    const second = bytes[at + 1] as number;
    assert.ok(second & 0x80, 'a client frame is masked');
    let length = second & 0x7f;
    at += 2;
    if (length === 126) {
      length = bytes.readUInt16BE(at);
      assert.ok(length > 125, 'the shortest length form');
      at += 2;
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(at));
      assert.ok(length > 0xffff, 'the shortest length form');
      at += 8;
    }
    const key = bytes.subarray(at, at + 4);
    at += 4;
    assert.ok(at + length <= bytes.length, 'a whole frame');
    const payload = Buffer.from(bytes.subarray(at, at + length));
    for (let i = 0; i < length; i++) payload[i] = (payload[i] as number) ^ (key[i & 3] as number);
    frames.push({ fin: (first & 0x80) !== 0, opcode: first & 0x0f, key: Buffer.from(key), payload });
    at += length;
  }
  return frames;
}

interface LoopbackPair {
  client: Socket;
  received: () => Promise<Buffer>;
}

/** A client socket to a loopback server that collects every byte once asked to read. */
async function loopbackPair(): Promise<LoopbackPair> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = tcpConnect((server.address() as AddressInfo).port, '127.0.0.1');
  // Both ends' events awaited together: either may come first.
  const [[peer]] = (await Promise.all([once(server, 'connection'), once(client, 'connect')])) as [
    [Socket],
    unknown,
  ];
  return collectOnRequest(server, client, peer);
}

/** The same over TLS, the server's certificate checked against `ca`. */
async function tlsPair(cert: string, key: string, ca: string): Promise<LoopbackPair> {
  const server = createTlsServer({ cert, key });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const client = tlsConnect({ port, host: '127.0.0.1', ca, servername: 'localhost' });
  const [[peer]] = (await Promise.all([once(server, 'secureConnection'), once(client, 'secureConnect')])) as [
    [Socket],
    unknown,
  ];
  return collectOnRequest(server, client, peer);
}

function collectOnRequest(server: { close(): unknown }, client: Socket, peer: Socket): LoopbackPair {
  peer.pause();
  const received = async (): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    peer.on('data', (chunk: Buffer) => chunks.push(chunk));
    peer.resume();
    client.end();
    await once(peer, 'end');
    server.close();
    return Buffer.concat(chunks);
  };
  return { client, received };
}

test('each frame is one final frame, masked with its own key, its length in the shortest form', async () => {
  const { client, received } = await loopbackPair();
  const writer = new ClientFrameWriter(client);
  const lengths = [0, 1, 3, 4, 125, 126, 127, 300, 0xffff, 0x10000, 70_001];
  const sent = lengths.map((length, n) =>
    Buffer.from(Uint8Array.from({ length }, (_, i) => (i * 7 + n) & 0xff)),
  );
  const keys = new Set<string>();
  sent.forEach((payload, n) => {
    const wire = writer.send(payload, n % 2 === 0 ? TEXT_OPCODE : BINARY_OPCODE);
    assert.equal(wire, payload.length + 2 + 4 + (payload.length > 0xffff ? 8 : payload.length > 125 ? 2 : 0));
  });
  writer.writePending(); // as the connection does before it closes: the last frame is still in its run
  const frames = readFrames(await received());
  assert.equal(frames.length, sent.length);
  frames.forEach((frame, n) => {
    assert.ok(frame.fin);
    assert.equal(frame.opcode, n % 2 === 0 ? TEXT_OPCODE : BINARY_OPCODE);
    assert.deepEqual(frame.payload, sent[n], `frame ${n} of ${lengths[n]} bytes`);
    keys.add(frame.key.toString('hex'));
  });
  assert.equal(keys.size, sent.length, 'a fresh masking key per frame');
});

async function backedUp({ client, received }: LoopbackPair): Promise<void> {
  const writer = new ClientFrameWriter(client);
  const frames = 20_000;
  let backedUp = false;
  for (let n = 0; n < frames; n++) {
    const payload = Buffer.alloc(1000, n & 0xff);
    payload.writeUInt32BE(n, 0);
    writer.send(payload, BINARY_OPCODE);
    backedUp ||= client.writableLength > 0;
  }
  assert.ok(backedUp, "the socket's own buffer was used (20 MB behind a peer that does not read)");
  writer.writePending();
  const read = readFrames(await received());
  assert.equal(read.length, frames);
  read.forEach((frame, n) => {
    assert.equal(frame.payload.readUInt32BE(0), n);
    assert.equal(frame.payload[999], n & 0xff, `frame ${n} whole`);
  });
}

test('frames written while the peer does not read stay intact: a buffer the socket holds is not reused', async () => {
  await backedUp(await loopbackPair());
});

/** Frames of the writer and messages of ws, mixed on one socket to `server`, all read back in order. */
async function mixedOnOneSocket(server: WebSocketServer, url: string, ca?: string): Promise<void> {
  const received: Array<{ text: string; binary: boolean }> = [];
  server.on('connection', (socket) =>
    socket.on('message', (data, isBinary) => received.push({ text: String(data), binary: isBinary })),
  );
  const { opened } = openBotSocket({ url, clock: new FakeClock(), ...(ca ? { ca } : {}) });
  const { socket, connection } = await opened;
  const writer = new ClientFrameWriter(connection);
  const expected: Array<{ text: string; binary: boolean }> = [];
  for (let n = 0; n < 300; n++) {
    const text = `{"event":"media","n":${n},"pad":"${'x'.repeat(n * 3)}"}`;
    if (n % 3 === 0) {
      // As the connection does: a frame still waiting in its run goes before ws's message.
      writer.writePending();
      socket.send(text);
    } else writer.send(Buffer.from(text), n % 3 === 1 ? TEXT_OPCODE : BINARY_OPCODE);
    expected.push({ text, binary: n % 3 === 2 });
  }
  while (received.length < expected.length) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(received, expected);
  socket.close();
  await once(socket, 'close');
}

test('on a real WebSocket, frames of the writer and messages of ws arrive whole and in order', async () => {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  await mixedOnOneSocket(server, `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  server.close();
});

/** A Writable that records what is written, or refuses it once destroyed. */
function recordingConnection(): { connection: Writable; written: Buffer[] } {
  const written: Buffer[] = [];
  const connection = new Writable({
    write(chunk: Buffer, _encoding, done) {
      written.push(Buffer.from(chunk));
      done();
    },
  });
  return { connection, written };
}

/** The payloads of the frames written, as text. */
function payloads(written: Buffer[]): string[] {
  return readFrames(Buffer.concat(written)).map((frame) => String(frame.payload));
}

describe('frames written in runs', () => {
  /** A run flushed by hand, standing for the microtask after a media tick. */
  function manualRun(): { run: FrameRun; endTask: () => void } {
    let scheduled: (() => void) | undefined;
    const run = new FrameRun((flush) => {
      scheduled = flush;
    });
    return {
      run,
      endTask: () => {
        const flush = scheduled;
        scheduled = undefined;
        flush?.();
      },
    };
  }

  test("a frame waits for the end of the task, then every writer's frame goes in the order framed", () => {
    const { run, endTask } = manualRun();
    const a = recordingConnection();
    const b = recordingConnection();
    const writerA = new ClientFrameWriter(a.connection, run);
    const writerB = new ClientFrameWriter(b.connection, run);
    writerA.send(Buffer.from('a1'), TEXT_OPCODE);
    writerB.send(Buffer.from('b1'), TEXT_OPCODE);
    assert.equal(a.written.length + b.written.length, 0, 'nothing written while the tick frames');
    assert.equal(run.waiting, 2);
    endTask();
    assert.deepEqual(payloads(a.written), ['a1']);
    assert.deepEqual(payloads(b.written), ['b1']);
    assert.equal(run.waiting, 0);
  });

  test('a second frame from one writer writes its first one before it, and the writer waits in the run once', () => {
    const { run, endTask } = manualRun();
    const { connection, written } = recordingConnection();
    const writer = new ClientFrameWriter(connection, run);
    writer.send(Buffer.from('one'), TEXT_OPCODE);
    writer.send(Buffer.from('two'), TEXT_OPCODE);
    assert.deepEqual(payloads(written), ['one']);
    writer.writePending(); // as the connection does before a message of ws's
    writer.send(Buffer.from('three'), TEXT_OPCODE);
    assert.equal(run.waiting, 1);
    endTask();
    assert.deepEqual(payloads(written), ['one', 'two', 'three']);
  });

  test('a run that fills is written at once, so a frame waits for a bounded number of others', () => {
    const { run } = manualRun();
    const connections = Array.from({ length: 40 }, () => recordingConnection());
    for (const [n, { connection }] of connections.entries())
      new ClientFrameWriter(connection, run).send(Buffer.from(`frame ${n}`), TEXT_OPCODE);
    const writtenBy = connections.filter(({ written }) => written.length > 0).length;
    assert.ok(writtenBy >= 32 && writtenBy < 40, `${writtenBy} written before the task ended`);
    assert.equal(run.waiting, 40 - writtenBy);
  });

  test('a write that throws costs only its own frame: the rest of the run is written', () => {
    const { run, endTask } = manualRun();
    const broken = new Writable({ write: (_chunk, _encoding, done) => done() });
    broken.write = () => {
      throw new Error('broken stream');
    };
    const { connection, written } = recordingConnection();
    new ClientFrameWriter(broken, run).send(Buffer.from('lost'), TEXT_OPCODE);
    new ClientFrameWriter(connection, run).send(Buffer.from('kept'), TEXT_OPCODE);
    assert.doesNotThrow(endTask);
    assert.deepEqual(payloads(written), ['kept']);
    assert.equal(run.waiting, 0);
  });

  test('a connection destroyed before its run ends takes nothing', () => {
    const { run, endTask } = manualRun();
    const { connection, written } = recordingConnection();
    new ClientFrameWriter(connection, run).send(Buffer.from('late'), TEXT_OPCODE);
    connection.destroy();
    assert.doesNotThrow(endTask);
    assert.equal(written.length, 0);
  });
});

describe('over TLS (wss://)', { skip: skipWithoutOpenssl }, () => {
  const certs = pkiForSuite();

  test('frames written while the peer does not read stay intact over TLS too', async () => {
    await backedUp(await tlsPair(certs.localhost.cert, certs.localhost.key, certs.pki.ca.cert));
  });

  test("the frames go through the TLS connection, whole and in order with ws's", async () => {
    const https = createHttpsServer({ cert: certs.localhost.cert, key: certs.localhost.key });
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
    const server = new WebSocketServer({ server: https });
    const port = (https.address() as AddressInfo).port;
    await mixedOnOneSocket(server, `wss://localhost:${port}/`, certs.pki.ca.cert);
    server.close();
    https.close();
  });
});

/**
 * The control API under greedy and slow clients, on real loopback sockets with the system clock
 * (Node's HTTP server keeps these timers), its limits set in the gateway file of an in-process
 * Gateway: beyond `api.maxConnections` a new connection is closed at accept and counted, and the
 * API answers again once the others are released; half a request header is answered 408 and the
 * connection cut after `api.headerTimeoutSec`, a body that stops after `api.requestTimeoutSec`,
 * and a kept-alive connection with no next request after `api.idleTimeoutSec`. Every wait is bounded.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Gateway } from '../../src/gateway/index.js';
import { SystemClock } from '../../src/util/index.js';
import { startLoopbackGateway } from '../gateway/helpers/loopback-gateway.js';
import { freePort } from './helpers/sipp.js';

const MAX_CONNECTIONS = 4;
const EXTRA = 3;
const HEADER_TIMEOUT_MS = 300;
const REQUEST_TIMEOUT_MS = 600;
const IDLE_TIMEOUT_MS = 500;
/** Node checks the request timeouts on an interval (a quarter of the header timeout here) and
 * keeps an idle connection a second past its keep-alive timeout; this covers both and a busy box. */
const SLACK_MS = 1500;
const HEALTHZ = 'GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n';

const recordsDir = mkdtempSync(join(tmpdir(), 'patchbay-api-hardening-'));
let gateway: Gateway | undefined;
let port = 0;
/** Every raw connection a test opened, destroyed after it (an open one would hold the API's close). */
const probes: Socket[] = [];

before(async () => {
  gateway = await startLoopbackGateway({
    clock: new SystemClock(),
    sipPort: await freePort(),
    recordsFile: join(recordsDir, 'calls.jsonl'),
    extra: {
      media: { workers: 0 },
      api: {
        host: '127.0.0.1',
        port: await freePort(),
        maxConnections: MAX_CONNECTIONS,
        headerTimeoutSec: HEADER_TIMEOUT_MS / 1000,
        requestTimeoutSec: REQUEST_TIMEOUT_MS / 1000,
        idleTimeoutSec: IDLE_TIMEOUT_MS / 1000,
      },
    },
  });
  port = Number(new URL(gateway.addresses().api ?? '').port);
});

after(async () => {
  await gateway?.stop();
  rmSync(recordsDir, { recursive: true, force: true });
});

/** A raw connection that records what it received and when it closed (ms after it opened). */
interface Probe {
  socket: Socket;
  received: () => string;
  closed: Promise<number>;
}

async function open(firstBytes?: string): Promise<Probe> {
  const socket = connect(port, '127.0.0.1');
  probes.push(socket);
  const opened = Date.now();
  let received = '';
  socket.on('data', (chunk) => {
    received += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - opened)));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('close', () => reject(new Error('closed before connecting')));
  });
  if (firstBytes !== undefined) socket.write(firstBytes);
  return { socket, received: () => received, closed };
}

/** How long the probe took to close, or undefined when it is still open after `withinMs`. */
async function closedWithin(probe: Probe, withinMs: number): Promise<number | undefined> {
  return Promise.race([probe.closed, delay(withinMs).then(() => undefined)]);
}

/** One request on its own connection (no pooled keep-alive socket to hold a slot afterwards). */
function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The answer to GET `path` and how many connections were refused before it. */
async function untilAnswered(path: string): Promise<{ status: number; refused: number }> {
  for (let refused = 0; ; refused++) {
    try {
      return { status: (await get(path)).status, refused };
    } catch (error) {
      // The server frees a released connection's slot when it handles the close, a turn later.
      if (refused >= 20) throw error;
      await delay(50);
    }
  }
}

describe('control API connection limits', () => {
  afterEach(() => {
    for (const socket of probes.splice(0)) socket.destroy();
  });

  it('beyond api.maxConnections new connections are closed at accept; the API answers once they are released', async () => {
    // Each held connection is answered once, so the server has surely counted it.
    const held = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => open(HEALTHZ)));
    for (let i = 0; i < 50 && held.some((probe) => !probe.received().includes('\r\n\r\n')); i++)
      await delay(20);
    assert.ok(held.every((probe) => probe.received().startsWith('HTTP/1.1 200')));

    const extra = await Promise.all(Array.from({ length: EXTRA }, () => open(HEALTHZ)));
    const closedAfter = await Promise.all(extra.map((probe) => closedWithin(probe, 1000)));
    assert.ok(
      closedAfter.every((ms) => ms !== undefined && ms < 500),
      `extra connections closed after ${closedAfter.map((ms) => ms ?? 'never').join(', ')} ms`,
    );
    assert.deepEqual(
      extra.map((probe) => probe.received()),
      extra.map(() => ''),
    );
    assert.ok(held.every((probe) => !probe.socket.destroyed));

    for (const probe of held) probe.socket.destroy();
    const { status, refused } = await untilAnswered('/healthz');
    assert.equal(status, 200);
    const metrics = (await get('/metrics')).body;
    const counted = new RegExp(`^patchbay_api_connections_refused_total ${EXTRA + refused}$`, 'm');
    assert.match(metrics, counted);
  });

  it('half a request header is answered 408 and the connection cut after api.headerTimeoutSec', async () => {
    const probe = await open('GET /v1/calls HTTP/1.1\r\nHost: api\r\n');
    const ms = await closedWithin(probe, HEADER_TIMEOUT_MS + SLACK_MS);
    assert.ok(ms !== undefined, 'still open');
    assert.ok(ms >= HEADER_TIMEOUT_MS - 50, `cut after ${ms} ms`);
    assert.match(probe.received(), /^HTTP\/1\.1 408 /);
  });

  it('a request body that stops is answered 408 and the connection cut after api.requestTimeoutSec', async () => {
    const headers = 'POST /v1/calls HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n';
    const probe = await open(`${headers}Content-Length: 100\r\n\r\n{"to":`);
    const ms = await closedWithin(probe, REQUEST_TIMEOUT_MS + SLACK_MS);
    assert.ok(ms !== undefined, 'still open');
    assert.ok(ms >= REQUEST_TIMEOUT_MS - 50, `cut after ${ms} ms`);
    assert.match(probe.received(), /^HTTP\/1\.1 408 /);
  });

  it('a kept-alive connection with no next request is closed after api.idleTimeoutSec', async () => {
    const probe = await open(HEALTHZ);
    const ms = await closedWithin(probe, IDLE_TIMEOUT_MS + SLACK_MS);
    assert.ok(ms !== undefined, 'still open');
    assert.ok(ms >= IDLE_TIMEOUT_MS - 50, `closed after ${ms} ms`);
    assert.match(probe.received(), /^HTTP\/1\.1 200 /);
  });
});

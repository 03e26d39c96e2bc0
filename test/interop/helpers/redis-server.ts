/**
 * A throwaway redis-server on loopback for interop tests: no persistence, files in a temp dir,
 * started and stopped (or killed, as a crash would) by the test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A throwaway redis-server on loopback: no persistence, files in a temp dir. */
export class RedisServer {
  private process: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'patchbay-redis-'));

  constructor(readonly port: number) {}

  /** Starts and waits (bounded) until it answers PING. */
  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    this.process = spawn('redis-server', [...args, '--dir', this.dir], { stdio: 'ignore' });
    for (let attempt = 0; attempt < 100; attempt++) {
      // A fresh client per attempt: a disconnected ioredis client never reconnects by itself.
      const probe = new Redis({
        port: this.port,
        host: '127.0.0.1',
        lazyConnect: true,
        retryStrategy: () => null,
      });
      probe.on('error', () => undefined);
      const reply = await probe.ping().catch(() => '');
      probe.disconnect();
      if (reply === 'PONG') return;
      await sleep(20);
    }
    throw new Error(`redis-server on ${this.port} did not start`);
  }

  /** SIGKILL, as a crash would: no clean shutdown, no goodbye to clients. */
  async kill(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

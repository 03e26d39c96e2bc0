/**
 * A real Kamailio for interop tests: `kamailio -f CFG -DD -E` in the foreground (no daemon)
 * on a loopback port for UDP and TCP, its log kept for the test's messages. It can be stopped
 * (SIGTERM, by its own pid) and started again on the same port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { commandAvailable, skipUnlessPresent } from '../../helpers/peers.js';

const MAX_LOG_CHARS = 200_000;
const START_TIMEOUT_MS = 10_000;

export function skipWithoutKamailio(): string | false {
  return skipUnlessPresent(commandAvailable('kamailio', ['-v']), 'kamailio is not installed');
}

export interface KamailioHandle {
  readonly port: number;
  logs(): string;
  /** SIGTERM to this process, resolved once it has exited. */
  stop(): Promise<void>;
}

export async function startKamailio(config: string, port: number): Promise<KamailioHandle> {
  const runtimeDir = mkdtempSync(join(tmpdir(), 'patchbay-kamailio-'));
  const listen = ['-l', `udp:127.0.0.1:${port}`, '-l', `tcp:127.0.0.1:${port}`];
  // Small memory pools: the test needs a handful of transactions and bindings.
  const args = ['-f', config, '-DD', '-E', '-Y', runtimeDir, '-m', '32', '-M', '4', ...listen];
  const child: ChildProcess = spawn('kamailio', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const append = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-MAX_LOG_CHARS);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const handle: KamailioHandle = {
    port,
    logs: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(runtimeDir, { recursive: true, force: true });
    },
  };
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || performance.now() > deadline) {
      await handle.stop();
      throw new Error(`kamailio did not start on ${port}:\n${output.slice(-3000)}`);
    }
    await delay(50);
  }
  return handle;
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

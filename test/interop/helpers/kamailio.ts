/**
 * A real Kamailio for interop tests: `kamailio -f CFG -DD -E` in the foreground (no daemon)
 * on a loopback port for UDP and TCP, and with `tls` on a second port for TLS (the config's
 * WITH_TLS part, given the certificate and key), its log kept for the test's messages. It can
 * be stopped (SIGTERM, by its own pid) and started again on the same port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { commandAvailable, skipUnlessPresent } from '../../helpers/peers.js';
import { freePort, type SippResult, startSipp } from './sipp.js';

const UAC_PROXY = join(import.meta.dirname, '../../../../fixtures/sipp/uac_proxy.xml');

const MAX_LOG_CHARS = 200_000;
const START_TIMEOUT_MS = 10_000;

export function skipWithoutKamailio(): string | false {
  return skipUnlessPresent(commandAvailable('kamailio', ['-v']), 'kamailio is not installed');
}

/** Kamailio and its TLS module (Debian's kamailio-tls-modules, under /usr/lib/<arch>/kamailio). */
export function skipWithoutKamailioTls(): string | false {
  const moduleDirs = [
    '/usr/lib/kamailio/modules',
    ...readdirSync('/usr/lib').map((d) => `/usr/lib/${d}/kamailio/modules`),
  ];
  const tls = moduleDirs.some((dir) => existsSync(join(dir, 'tls.so')));
  return skipWithoutKamailio() || skipUnlessPresent(tls, 'kamailio-tls-modules is not installed');
}

/** Kamailio's TLS listener: its port, and the PEM files it presents. */
export interface KamailioTls {
  port: number;
  certFile: string;
  keyFile: string;
}

export interface KamailioHandle {
  readonly port: number;
  logs(): string;
  /** SIGTERM to this process, resolved once it has exited. */
  stop(): Promise<void>;
}

export async function startKamailio(
  config: string,
  port: number,
  tls?: KamailioTls,
): Promise<KamailioHandle> {
  const runtimeDir = mkdtempSync(join(tmpdir(), 'patchbay-kamailio-'));
  const listen = ['-l', `udp:127.0.0.1:${port}`, '-l', `tcp:127.0.0.1:${port}`];
  if (tls) {
    listen.push('-l', `tls:127.0.0.1:${tls.port}`, '-A', 'WITH_TLS');
    listen.push('-A', `TLS_CERT="${tls.certFile}"`, '-A', `TLS_KEY="${tls.keyFile}"`);
  }
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

/** One SIPp call over UDP to `user` at Kamailio (its lookup finds the registered Contact), 1 s long. */
export async function callThroughKamailio(kamailio: KamailioHandle, user: string): Promise<SippResult> {
  const sipp = startSipp({
    scenario: UAC_PROXY,
    remote: `127.0.0.1:${kamailio.port}`,
    localPort: await freePort(),
    calls: 1,
    timeoutMs: 20_000,
    // Kamailio's children may forward the 180 after the 200: a stray provisional is ignored, as
    // in the cluster test, rather than aborting the call.
    extraArgs: ['-s', user, '-d', '1000', '-default_behaviors', 'all,-abortunexp'],
  });
  return sipp.result;
}

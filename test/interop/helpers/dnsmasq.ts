/**
 * A dnsmasq DNS server on 127.0.0.1 for interop tests: in the foreground, on a high port,
 * answering only the records it is given (no upstream servers, no /etc/hosts, no config
 * file), authoritative for `.test` so other names there get NXDOMAIN. Runs without root.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { commandAvailable, skipUnlessPresent } from '../../helpers/peers.js';

export function skipWithoutDnsmasq(): string | false {
  return skipUnlessPresent(
    commandAvailable('dnsmasq', ['--version']),
    'dnsmasq (Debian package dnsmasq-base) is not installed',
  );
}

export interface DnsmasqRecords {
  /** `--srv-host` values: `<name>,<target>,<port>,<priority>,<weight>`. */
  srv?: string[];
  /** `--host-record` values: `<name>,<address>[,<ttl>]`. */
  hosts?: string[];
  /** `--naptr-record` values: `<name>,<order>,<preference>,<flags>,<service>,<regexp>,<replacement>`. */
  naptr?: string[];
}

export interface DnsmasqHandle {
  /** `127.0.0.1:<port>`, as the gateway's `dns.servers` takes it. */
  readonly server: string;
  readonly child: ChildProcess;
  /** Stops dnsmasq (SIGTERM) and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
}

export async function startDnsmasq(port: number, records: DnsmasqRecords): Promise<DnsmasqHandle> {
  const args = [
    '--no-daemon',
    `--port=${port}`,
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    '--no-resolv',
    '--no-hosts',
    '--conf-file=/dev/null',
    '--pid-file=',
    '--local=/test/',
    ...(records.srv ?? []).map((record) => `--srv-host=${record}`),
    ...(records.hosts ?? []).map((record) => `--host-record=${record}`),
    ...(records.naptr ?? []).map((record) => `--naptr-record=${record}`),
  ];
  const child = spawn('dnsmasq', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-10_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const server = `127.0.0.1:${port}`;
  const handle: DnsmasqHandle = {
    server,
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
  // Ready once it answers (NXDOMAIN for an unknown .test name is an answer too).
  const resolver = new Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([server]);
  for (let attempt = 0; attempt < 50; attempt++) {
    if (child.exitCode !== null) break;
    const answered = await resolver.resolve4('ready.test').then(
      () => true,
      (error: { code?: string }) => error.code === 'ENOTFOUND',
    );
    if (answered) return handle;
    await delay(100);
  }
  await handle.stop();
  throw new Error(`dnsmasq did not start on ${server}:\n${stderr}`);
}

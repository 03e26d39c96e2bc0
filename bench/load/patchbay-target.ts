/**
 * The gateway as the load bench drives it: a real `patchbay start --config` process (the
 * compiled CLI; run `npm run build` first) with one loopback trunk and one route to the bot,
 * called over SIP/UDP by a user agent built on our own stack, one INVITE per caller socket.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { OutboundSession } from '../../src/sip/index.js';
import { createOffer, parseAnswer } from '../../src/sip/sdp.js';
import { type PatchbayChild, spawnPatchbay } from '../../test/interop/helpers/gateway-process.js';
import { freePort } from '../../test/interop/helpers/sipp.js';
import { type StackUa, startStackUa } from '../../test/interop/helpers/stack-ua.js';
import type { SystemUnderTest, TargetStatus } from './targets.js';

/** Answers still missing this long after the last INVITE count as failed calls. */
const SETUP_GRACE_MS = 10_000;
const STOP_TIMEOUT_MS = 15_000;
/** Each call holds an even RTP port and the odd one above; the rest is slack for busy ports. */
const PORTS_PER_CALL = 2;
const RTP_PORT_MIN = 16_000;

export interface PatchbayTargetOptions {
  botUrl: string;
  /** Calls this gateway must admit (node and trunk limits). */
  maxCalls: number;
  /** INVITEs per second while setting up (the trunk's CPS bucket allows as many). */
  cps: number;
  /** Runs the gateway under `--cpu-prof`, writing its profile into this folder on exit. */
  profileDir?: string;
}

export class PatchbayTarget implements SystemUnderTest {
  readonly #gateway: PatchbayChild;
  readonly #ua: StackUa;
  readonly #dir: string;
  readonly #sipPort: number;
  readonly #apiUrl: string;
  readonly #cps: number;
  readonly #sessions: OutboundSession[] = [];
  #dropped = 0;
  #closing: Promise<void> | undefined;

  private constructor(
    gateway: PatchbayChild,
    ua: StackUa,
    dir: string,
    ports: { sip: number; api: number },
    cps: number,
  ) {
    this.#gateway = gateway;
    this.#ua = ua;
    this.#dir = dir;
    this.#sipPort = ports.sip;
    this.#apiUrl = `http://127.0.0.1:${ports.api}`;
    this.#cps = cps;
  }

  static async start(options: PatchbayTargetOptions): Promise<PatchbayTarget> {
    const dir = mkdtempSync(join(tmpdir(), 'patchbay-load-'));
    const ports = { sip: await freePort(), api: await freePort() };
    const gatewayFile = writeConfig(dir, ports, options);
    const nodeArgs = options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [];
    let gateway: PatchbayChild;
    try {
      gateway = await spawnPatchbay(['start', '--config', gatewayFile], nodeArgs);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    return new PatchbayTarget(gateway, await startStackUa('udp', false), dir, ports, options.cps);
  }

  get pid(): number {
    return this.#gateway.child.pid ?? 0;
  }

  async connect(
    callerPorts: readonly number[],
    connected: (call: number, remotePort: number) => void,
  ): Promise<number> {
    let answered = 0;
    let setupOver = false;
    const outcomes: Array<Promise<void>> = [];
    const started = performance.now();
    for (const [call, rtpPort] of callerPorts.entries()) {
      const wait = started + (call * 1000) / this.#cps - performance.now();
      if (wait > 0) await delay(wait);
      if (this.#closing) break;
      const session = this.#invite(rtpPort);
      outcomes.push(
        session.outcome.then((outcome) => {
          if (outcome.kind !== 'answered') return;
          const answer = parseAnswer(session.remoteSdp ?? '', ['PCMU']);
          if (setupOver || !answer.ok) {
            void session.bye('not measured').catch(() => undefined);
            return;
          }
          answered++;
          connected(call, answer.remote.port);
        }),
      );
    }
    await Promise.race([Promise.all(outcomes), delay(SETUP_GRACE_MS)]);
    setupOver = true;
    return callerPorts.length - answered;
  }

  async resetLag(): Promise<void> {
    await this.#scrapeLagMs();
  }

  async status(): Promise<TargetStatus> {
    // The gauge is the p99 since the previous scrape (src/control/metrics.ts).
    return { lagP99Ms: await this.#scrapeLagMs(), dropped: this.#dropped };
  }

  close(): Promise<void> {
    this.#closing ??= this.#stop();
    return this.#closing;
  }

  #invite(rtpPort: number): OutboundSession {
    const session = this.#ua.ua.call({
      requestUri: `sip:load@127.0.0.1:${this.#sipPort}`,
      destination: { transport: 'udp', address: '127.0.0.1', port: this.#sipPort },
      from: `<sip:caller@127.0.0.1:${this.#ua.port}>`,
      to: `<sip:load@127.0.0.1:${this.#sipPort}>`,
      sdp: createOffer({ address: '127.0.0.1', port: rtpPort, codecs: ['PCMU'], rtcpMux: true }),
    });
    this.#sessions.push(session);
    session.once('confirmed', () =>
      session.once('terminated', () => {
        if (!this.#closing) this.#dropped++;
      }),
    );
    return session;
  }

  async #scrapeLagMs(): Promise<number> {
    const text = await (await fetch(`${this.#apiUrl}/metrics`)).text();
    const line = text.split('\n').find((entry) => entry.startsWith('patchbay_event_loop_lag_seconds '));
    return line ? Number(line.split(' ')[1]) * 1000 : Number.NaN;
  }

  async #stop(): Promise<void> {
    const byes = this.#sessions.filter((session) => session.state === 'confirmed').map((s) => s.bye());
    await Promise.race([Promise.allSettled(byes), delay(5000)]);
    await this.#ua.close();
    const { child, exited } = this.#gateway;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(killer);
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

function writeConfig(
  dir: string,
  ports: { sip: number; api: number },
  options: PatchbayTargetOptions,
): string {
  const rtpMax = RTP_PORT_MIN + PORTS_PER_CALL * options.maxCalls + 200;
  mkdirSync(join(dir, 'sip-profiles'));
  writeFileSync(
    join(dir, 'sip-profiles', 'load.yaml'),
    [
      'name: load',
      'inbound:',
      '  allowedCidrs: ["127.0.0.0/8"]',
      'codecs: [PCMU]',
      `cps: { rate: ${options.cps}, burst: ${options.cps} }`,
      `maxConcurrentCalls: ${options.maxCalls}`,
      'probing: { enabled: false }',
      '',
    ].join('\n'),
  );
  const gatewayFile = join(dir, 'gateway.yaml');
  writeFileSync(
    gatewayFile,
    [
      `listen: [{ transport: udp, host: 127.0.0.1, port: ${ports.sip} }]`,
      `rtp: { portMin: ${RTP_PORT_MIN}, portMax: ${rtpMax} }`,
      `api: { host: 127.0.0.1, port: ${ports.api} }`,
      'logLevel: info',
      `callRecords: { enabled: true, path: ${JSON.stringify(join(dir, 'calls.jsonl'))} }`,
      // One caller address sends every INVITE, ACK and BYE: it is not a flood.
      `limits: { maxCalls: ${options.maxCalls}, drainTimeoutSec: 2, requestsPerSourcePerSec: 10000 }`,
      'routes:',
      '  - match: "*"',
      `    target: { url: ${JSON.stringify(options.botUrl)}, dialect: twilio, sampleRate: 8000 }`,
      '',
    ].join('\n'),
  );
  return gatewayFile;
}

/**
 * What the registration interop tests share: a real Kamailio as the registrar
 * (fixtures/kamailio/registrar.cfg: digest against a static password, bindings in memory), the
 * trunk file that registers there, the gateway's view of its registration, and a rig of
 * Kamailio, a test bot and a `patchbay start` torn down together.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { type GatewayProcess, type GatewayProcessOptions, startGatewayProcess } from './gateway-process.js';
import { type KamailioHandle, type KamailioTls, startKamailio } from './kamailio.js';
import { freePort } from './sipp.js';
import { TestBot } from './test-bot.js';

export const REGISTRAR_CFG = join(import.meta.dirname, '../../../../fixtures/kamailio/registrar.cfg');
/** The address-of-record the trunk registers; callers reach it through Kamailio. */
export const AOR_USER = 'trunk-user';

export interface RegisterTrunk {
  name: string;
  /** Kamailio's port for `transport` (its TLS port over TLS). */
  port: number;
  transport: 'udp' | 'tcp' | 'tls';
  expires: number;
  keepAliveSec?: number;
  /** Over TLS: the CA that signed Kamailio's certificate, for the gateway and the registration. */
  caFile?: string;
  trustPai?: boolean;
  /** The trunk's passHeaders. */
  passHeaders?: readonly string[];
}

/** A trunk whose calls go to Kamailio and which registers `AOR_USER` there. */
export function registerTrunkYaml(trunk: RegisterTrunk): string {
  const tlsCa = trunk.caFile ? `, tlsCaFile: "${trunk.caFile}"` : '';
  return [
    `name: ${trunk.name}`,
    ...(trunk.trustPai ? ['trustPai: true'] : []),
    ...(trunk.passHeaders ? [`passHeaders: [${trunk.passHeaders.join(', ')}]`] : []),
    'outbound:',
    `  gateways: [{ host: 127.0.0.1, port: ${trunk.port}, transport: ${trunk.transport}${tlsCa} }]`,
    '  register:',
    `    registrar: "127.0.0.1:${trunk.port}"`,
    `    username: ${AOR_USER}`,
    '    password: s3cret',
    '    realm: 127.0.0.1', // Kamailio challenges for the To domain
    `    expires: ${trunk.expires}`,
    ...(trunk.keepAliveSec ? [`    keepAliveSec: ${trunk.keepAliveSec}`] : []),
    `    transport: ${trunk.transport}`,
    ...(trunk.caFile ? [`    tlsCaFile: "${trunk.caFile}"`] : []),
    'probing: { enabled: false }',
    '',
  ].join('\n');
}

export interface TrunkRegistration {
  trunk: string;
  state: string;
  failures: number;
  expiresSec?: number;
  publicAddress?: string;
}

/** The trunk's registration as `GET /v1/trunks` shows it. */
export async function trunkRegistration(
  gateway: GatewayProcess,
  trunk: string,
): Promise<TrunkRegistration | undefined> {
  const body = (await (await fetch(`${gateway.apiUrl}/v1/trunks`)).json()) as {
    registrations: TrunkRegistration[];
  };
  return body.registrations.find((entry) => entry.trunk === trunk);
}

/** The first number of the metric line `pattern` matches, 0 without one. */
export async function metricValue(gateway: GatewayProcess, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${gateway.apiUrl}/metrics`)).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}

/** `patchbay_registrations_total{trunk,result}`. */
export function registrationAttempts(
  gateway: GatewayProcess,
  trunk: string,
  result: string,
): Promise<number> {
  return metricValue(
    gateway,
    new RegExp(`^patchbay_registrations_total\\{trunk="${trunk}",result="${result}"\\} (\\d+)`, 'm'),
  );
}

/** The gateway's one call record, once written, ended by the caller's BYE. */
export async function assertEndedByCaller(gateway: GatewayProcess, context: () => string): Promise<void> {
  const [record] = await gateway.recordsWhen((records) => records.length === 1, 10_000);
  assert.equal((record?.['end'] as { cause?: string } | undefined)?.cause, 'caller_bye', context());
}

export interface RegistrarRigOptions {
  /** The trunk files, by name, given Kamailio's SIP port (its TLS port when `tls` is given). */
  trunks: (kamailioPort: number) => Record<string, string>;
  tls?: Omit<KamailioTls, 'port'>;
  gateway?: Omit<GatewayProcessOptions, 'botUrl' | 'trunks'>;
}

/** Kamailio, a test bot and a gateway registering there, torn down together after `run`'s body. */
export class RegistrarRig {
  readonly bot: TestBot;
  readonly gateway: GatewayProcess;
  readonly kamailioPort: number;
  readonly #tls: KamailioTls | undefined;
  #kamailio: KamailioHandle | undefined;

  private constructor(
    bot: TestBot,
    gateway: GatewayProcess,
    kamailio: KamailioHandle,
    tls: KamailioTls | undefined,
  ) {
    this.bot = bot;
    this.gateway = gateway;
    this.kamailioPort = kamailio.port;
    this.#kamailio = kamailio;
    this.#tls = tls;
  }

  /** Runs `body` with a fresh rig, closed however `body` ends. */
  static async run(options: RegistrarRigOptions, body: (rig: RegistrarRig) => Promise<void>): Promise<void> {
    const kamailioPort = await freePort();
    const tls = options.tls ? { ...options.tls, port: await freePort() } : undefined;
    const kamailio = await startKamailio(REGISTRAR_CFG, kamailioPort, tls);
    let bot: TestBot | undefined;
    let gateway: GatewayProcess | undefined;
    let rig: RegistrarRig | undefined;
    try {
      bot = await TestBot.start();
      gateway = await startGatewayProcess({
        ...options.gateway,
        botUrl: bot.url,
        trunks: options.trunks(tls?.port ?? kamailioPort),
      });
      rig = new RegistrarRig(bot, gateway, kamailio, tls);
      await body(rig);
    } finally {
      // The gateway first, while the registrar it unregisters from still runs.
      await gateway?.stop();
      await (rig ? rig.#stopKamailio() : kamailio.stop());
      await bot?.close();
    }
  }

  /** The running Kamailio; throws while it is stopped. */
  get kamailio(): KamailioHandle {
    if (!this.#kamailio) throw new Error('kamailio is stopped');
    return this.#kamailio;
  }

  /** The end of the gateway's and Kamailio's logs, for an assertion's message. */
  context(): string {
    return `${this.gateway.logs().slice(-3000)}\n--- kamailio ---\n${this.#kamailio?.logs().slice(-3000) ?? '(stopped)'}`;
  }

  /** Stops Kamailio, and with it every binding it held. */
  async stopKamailio(): Promise<void> {
    await this.#stopKamailio();
  }

  /** Starts Kamailio again on the same ports, with no bindings. */
  async startKamailio(): Promise<void> {
    if (this.#kamailio) throw new Error('kamailio is running');
    this.#kamailio = await startKamailio(REGISTRAR_CFG, this.kamailioPort, this.#tls);
  }

  async #stopKamailio(): Promise<void> {
    const kamailio = this.#kamailio;
    this.#kamailio = undefined;
    await kamailio?.stop();
  }
}

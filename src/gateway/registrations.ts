/**
 * The registrations of registration-based trunks (`outbound.register`): one RegistrationClient
 * per trunk, started at start and on reload (a trunk whose registration settings changed gets
 * a new one; the old binding is removed), all removed on drain and stop. Each one's state goes
 * to `patchbay_trunk_registered`, each attempt to `patchbay_registrations_total`, and the
 * state changes to the log (never the password). The registrars' addresses tell which
 * sources may send each trunk's calls.
 */
import { isIP } from 'node:net';
import type { PatchbayConfig, RegisterConfig } from '../config/index.js';
import type { GatewayMetrics, TrunkRegistration } from '../control/index.js';
import {
  type PublicAddress,
  type RegistrarLink,
  RegistrationClient,
  type RegistrationStatus,
  serializeUri,
  type TransportAddress,
  uriHost,
} from '../sip/index.js';
import { registrationContactUser, type ServerLocator } from '../trunks/index.js';
import type { Clock, Logger } from '../util/index.js';
import { type LocatingRegistrarLink, locatingRegistrarLink } from './registrar-location.js';
import { registrarDestination, registrarServer, uriTransportParam } from './sip-tls.js';

export interface TrunkRegistrationsOptions {
  link: RegistrarLink;
  clock: Clock;
  logger: Logger;
  metrics: GatewayMetrics;
  userAgent: string;
  /** Locates a registrar named by DNS (RFC 3263); without it the transport resolves the name at each send. */
  locator?: ServerLocator;
  /** The TCP and TLS connections we opened that closed (the SIP transport's `flowClosed`). */
  flows?: { on(event: 'flowClosed', listener: (remote: TransportAddress) => void): unknown };
}

/** How long `stop` waits for registrars to confirm our bindings are removed. */
const UNREGISTER_TIMEOUT_MS = 2000;

interface Running {
  /** The settings it was made from: a reload with other settings replaces it. */
  settings: string;
  registrar: string;
  /** The registrar configured as an IP address: its calls are taken from the start. */
  registrarIp: string | undefined;
  aor: string;
  client: RegistrationClient;
  /** A registrar named by DNS: its servers, located (RFC 3263). */
  located: LocatingRegistrarLink | undefined;
}

export class TrunkRegistrations {
  readonly #options: TrunkRegistrationsOptions;
  readonly #running = new Map<string, Running>();
  /** Bindings being removed; a trunk's new registration waits for its old one's Expires: 0. */
  readonly #retiring = new Map<string, Promise<void>>();
  #config: PatchbayConfig | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: TrunkRegistrationsOptions) {
    this.#options = options;
    options.metrics.registeredTrunks = () =>
      [...this.#running].map(([trunk, { client }]) => [trunk, client.bound] as const);
    options.flows?.on('flowClosed', (remote) => {
      for (const [trunk, { client }] of this.#running)
        if (client.flowClosed(remote))
          options.logger.info(
            { trunk, registrar: shownAddress(remote) },
            'connection to the registrar closed; binding refreshed over a new one',
          );
    });
  }

  /** Starts the registrations `config` asks for and removes those it no longer does. */
  apply(config: PatchbayConfig): void {
    if (this.#stopping) return;
    this.#config = config;
    for (const [trunk, running] of this.#running) {
      const register = config.trunks.get(trunk)?.outbound?.register;
      if (!register || settingsOf(register) !== running.settings) this.#retire(trunk, running);
    }
    this.#startWanted();
  }

  /**
   * Where `trunk`'s registrar answered the bindings of ours that stand, and for a registrar
   * named by DNS every address of its servers once located: its calls come from there
   * (trunks/inbound.ts). A registrar configured as an IP address is one of them from the start,
   * and one named by DNS from its first REGISTER's lookup: after a restart it may send calls on
   * the binding we made before, ahead of our first REGISTER's answer.
   */
  registrarAddresses(trunk: string): readonly string[] {
    const running = this.#running.get(trunk);
    if (!running) return [];
    const answered = running.client.registrarAddresses;
    const configured = running.registrarIp ? [running.registrarIp] : (running.located?.serverAddresses ?? []);
    return configured.length === 0 ? answered : [...new Set([...configured, ...answered])];
  }

  /** Each registration's state, for `GET /v1/trunks`. */
  list(): TrunkRegistration[] {
    return [...this.#running].map(([trunk, { registrar, aor, client }]) => {
      const nat = client.publicAddress;
      return {
        trunk,
        registrar,
        aor,
        ...client.status,
        ...(nat ? { publicAddress: shownAddress(nat) } : {}),
      };
    });
  }

  /**
   * Removes every binding (drain or stop) and starts no new one. Resolves when each registrar
   * answered, or after `timeoutMs` (an unreachable registrar cannot hold up the exit).
   */
  stop(timeoutMs = UNREGISTER_TIMEOUT_MS): Promise<void> {
    this.#stopping ??= new Promise<void>((resolve) => {
      const timer = this.#options.clock.setTimer(timeoutMs, resolve);
      const pending = [...this.#running.values()].map(({ client }) => client.stop());
      void Promise.all([...pending, ...this.#retiring.values()]).then(() => {
        timer.cancel();
        resolve();
      });
    });
    return this.#stopping;
  }

  /** Stops every timer without signalling (after `stop`, before the transport closes). */
  close(): void {
    for (const { client } of this.#running.values()) client.close();
  }

  #startWanted(): void {
    const config = this.#config;
    if (this.#stopping || !config) return;
    for (const trunk of config.trunks.values()) {
      const register = trunk.outbound?.register;
      if (register && !this.#running.has(trunk.name) && !this.#retiring.has(trunk.name))
        this.#start(trunk.name, register);
    }
  }

  /** Removes a binding the config no longer has (or has with other settings). */
  #retire(trunk: string, running: Running): void {
    this.#running.delete(trunk);
    running.client.removeAllListeners();
    this.#options.logger.info({ trunk }, 'trunk registration removed by reload');
    const stopped = running.client.stop().then(() => {
      running.client.close();
      this.#retiring.delete(trunk);
      this.#startWanted();
    });
    this.#retiring.set(trunk, stopped);
  }

  #start(trunk: string, register: RegisterConfig): void {
    const { clock, logger, metrics, link, locator } = this.#options;
    const registrar = registrarServer(register.registrar);
    if (!registrar) return; // the schema refuses such a registrar
    const { transport } = register;
    const server = { ...registrar, transport };
    // A DNS name is located as a gateway is (RFC 3263: without a port NAPTR and SRV, with one
    // its A/AAAA records), so its servers' addresses are known from the first REGISTER on.
    const located =
      locator && isIP(registrar.host) === 0 ? locatingRegistrarLink(link, locator, server) : undefined;
    const aor = serializeUri({
      scheme: 'sip',
      user: register.username,
      host: uriHost(registrar.host),
      params: new Map(),
      headers: new Map(),
    });
    const client = new RegistrationClient({
      link: located ?? link,
      clock,
      registrar: registrarDestination(registrar, transport),
      registrarUri: `sip:${register.registrar}${uriTransportParam(transport)}`,
      aor,
      username: register.username,
      password: register.password,
      ...(register.realm ? { realm: register.realm } : {}),
      expiresSec: register.expires,
      keepAliveSec: register.keepAliveSec,
      contactUser: registrationContactUser(trunk, register),
      userAgent: this.#options.userAgent,
    });
    const log = logger.child({ trunk, registrar: register.registrar, aor });
    let registered = false;
    client.on('state', (status) => {
      logTransition(log, status, registered);
      registered = status.state === 'registered';
    });
    client.on('attempt', (result) => metrics.registrationsTotal.inc({ trunk, result }));
    client.on('publicAddress', (address) =>
      log.info({ publicAddress: shownAddress(address) }, 'registrar sees us behind a NAT; Contact moved'),
    );
    this.#running.set(trunk, {
      settings: settingsOf(register),
      registrar: register.registrar,
      registrarIp: isIP(registrar.host) === 0 ? undefined : registrar.host,
      aor,
      client,
      located,
    });
    client.start();
  }
}

function settingsOf(register: RegisterConfig): string {
  return JSON.stringify(register);
}

/** One line per change of state; refreshes of a registered trunk only at debug level. */
function logTransition(log: Logger, status: RegistrationStatus, wasRegistered: boolean): void {
  switch (status.state) {
    case 'registered':
      if (wasRegistered) log.debug({ expiresSec: status.expiresSec }, 'trunk registration refreshed');
      else log.info({ expiresSec: status.expiresSec, expiresAt: status.expiresAt }, 'trunk registered');
      return;
    case 'failed':
      log.warn(
        { cause: status.cause, detail: status.detail, failures: status.failures, retryAt: status.retryAt },
        'trunk registration failed',
      );
      return;
    case 'unregistered':
      log.info({}, 'trunk unregistered');
      return;
    case 'registering':
      return;
  }
}

/** `address:port`, an IPv6 address in brackets (as `GET /v1/trunks` and the log show it). */
function shownAddress({ address, port }: PublicAddress): string {
  return `${uriHost(address)}:${port}`;
}

/**
 * Locating a gateway's SIP servers (RFC 3263 §4) for its configured transport:
 * - an IP address, or a name with a port, is one target (§4.2: a port means no SRV);
 * - a name without a port: NAPTR (§4.1) picks the SRV name for the transport
 *   (`SIP+D2U` → `_sip._udp`, `SIP+D2T` → `_sip._tcp`, `SIPS+D2T` → `_sips._tcp`), or the SRV
 *   name is built from it when no NAPTR record offers the transport; the SRV records are the
 *   targets (RFC 2782; the router orders them by priority and weight); with no SRV records, the
 *   name itself at 5060 (5061 over TLS);
 * - each target's addresses are its A records, else its AAAA records, asked when it is tried;
 *   an address that failed (timeout, transport error, 503: §4.3) goes after its siblings for a
 *   while, for calls and probes alike, so a dead address of a name costs one attempt.
 * `localhost` is the loopback address without asking DNS (RFC 6761 §6.3).
 */
import { isIP } from 'node:net';
import type { OutboundGatewayConfig } from '../config/index.js';
import { CachingDns, type DnsCacheOptions, type DnsClient, type NonEmpty } from './dns.js';

export type GatewayTransport = OutboundGatewayConfig['transport'];

/** What is located: a gateway, or a registrar, by its configured host, port and transport. */
export type LocatedServer = Pick<OutboundGatewayConfig, 'host' | 'port' | 'transport'>;

/** RFC 3263 §4.1 NAPTR services and RFC 2782 SRV names per transport; RFC 3261 §19.1.2 ports. */
const TRANSPORTS: Record<GatewayTransport, { naptrService: string; srvPrefix: string; defaultPort: number }> =
  {
    udp: { naptrService: 'SIP+D2U', srvPrefix: '_sip._udp', defaultPort: 5060 },
    tcp: { naptrService: 'SIP+D2T', srvPrefix: '_sip._tcp', defaultPort: 5060 },
    tls: { naptrService: 'SIPS+D2T', srvPrefix: '_sips._tcp', defaultPort: 5061 },
  };

/** SRV targets kept per gateway: its health and probing state is per target, so bounded. */
export const MAX_TARGETS_PER_GATEWAY = 16;

/** One server of a gateway: an SRV target, or the gateway's own host and port. */
export interface ServiceTarget {
  host: string;
  port: number;
  priority: number;
  weight: number;
}

export type TargetsAnswer =
  | { ok: true; targets: ServiceTarget[]; expiresAtMs: number }
  | { ok: false; detail: string; expiresAtMs: number };

export type AddressAnswer = { ok: true; address: string } | { ok: false; detail: string };
export type AddressesAnswer = { ok: true; addresses: NonEmpty<string> } | { ok: false; detail: string };

/** How long an address that failed is tried after its name's other addresses. */
export const FAILED_ADDRESS_MS = 60_000;
/** Failed addresses remembered at once, the oldest forgotten first. */
const MAX_FAILED_ADDRESSES = 1024;

const isLocalhost = (host: string): boolean => host === 'localhost' || host.endsWith('.localhost');

/** A DNS name as the cache keys it: lower case, without the root's trailing dot. */
const normalName = (host: string): string => host.toLowerCase().replace(/\.$/, '');

/** The port a server takes SIP on when none is named (RFC 3261 §19.1.2). */
export function defaultSipPort(transport: GatewayTransport): number {
  return TRANSPORTS[transport].defaultPort;
}

/** The gateway's only target when DNS cannot give it more (an address, a port, or localhost). */
export function fixedTarget(gateway: LocatedServer): ServiceTarget | undefined {
  const fixed = gateway.port !== undefined || isIP(gateway.host) !== 0 || isLocalhost(gateway.host);
  if (!fixed) return undefined;
  const port = gateway.port ?? defaultSipPort(gateway.transport);
  return { host: gateway.host, port, priority: 0, weight: 1 };
}

/**
 * A target's id for health and probing: the gateway's own id when it is its only target,
 * else `<gatewayId>/<host>:<port>` per SRV target.
 */
export function targetId(gatewayId: string, gateway: OutboundGatewayConfig, target: ServiceTarget): string {
  return fixedTarget(gateway) ? gatewayId : `${gatewayId}/${normalName(target.host)}:${target.port}`;
}

export interface ServerLocatorOptions extends DnsCacheOptions {
  dns: DnsClient;
}

export class ServerLocator {
  readonly #dns: CachingDns;
  readonly #clock: ServerLocatorOptions['clock'];
  /** `address port` → until when it goes after its siblings. */
  readonly #failed = new Map<string, number>();

  constructor(options: ServerLocatorOptions) {
    this.#dns = new CachingDns(options.dns, options);
    this.#clock = options.clock;
  }

  /** The gateway's targets, unordered (the router orders them), or why DNS could not say. */
  async targets(gateway: LocatedServer): Promise<TargetsAnswer> {
    const fixed = fixedTarget(gateway);
    if (fixed) return { ok: true, targets: [fixed], expiresAtMs: Number.POSITIVE_INFINITY };
    const rules = TRANSPORTS[gateway.transport];
    const domain = normalName(gateway.host);
    const naptr = await this.#dns.naptr.query(domain);
    // RFC 3263 §4.1: the most preferred NAPTR record with an "s" flag for our transport names
    // the SRV record; a failed NAPTR query is no reason to give up on the usual SRV name.
    const offered = naptr.ok
      ? naptr.records
          .filter((r) => r.flags.toLowerCase() === 's' && r.service.toUpperCase() === rules.naptrService)
          .sort((x, y) => x.order - y.order || x.preference - y.preference)[0]
      : undefined;
    const srvName = offered ? normalName(offered.replacement) : `${rules.srvPrefix}.${domain}`;
    const srv = await this.#dns.srv.query(srvName);
    const expiresAtMs = Math.min(naptr.expiresAtMs, srv.expiresAtMs);
    if (!srv.ok && srv.failure === 'not_found') {
      // RFC 3263 §4.2: no SRV records, so the name itself at the transport's default port.
      return {
        ok: true,
        targets: [{ host: domain, port: rules.defaultPort, priority: 0, weight: 1 }],
        expiresAtMs,
      };
    }
    if (!srv.ok) return { ok: false, detail: `SRV ${srvName}: ${srv.code}`, expiresAtMs };
    // RFC 2782: a single target "." means the service is decidedly not offered here.
    const targets = srv.records
      .filter((record) => record.name !== '' && record.name !== '.')
      .sort((x, y) => x.priority - y.priority)
      .slice(0, MAX_TARGETS_PER_GATEWAY)
      .map((record) => ({
        host: normalName(record.name),
        port: record.port,
        priority: record.priority,
        weight: record.weight,
      }));
    if (targets.length === 0) return { ok: false, detail: `SRV ${srvName}: no service`, expiresAtMs };
    return { ok: true, targets, expiresAtMs };
  }

  /** The address to send to at `port`: the first of `addresses`. */
  async address(host: string, port: number): Promise<AddressAnswer> {
    const answer = await this.addresses(host, port);
    return answer.ok ? { ok: true, address: answer.addresses[0] } : answer;
  }

  /**
   * The addresses to try in turn at `port` (RFC 3263 §4.2): the host itself when it is one,
   * else its A, else its AAAA records (at most MAX_TARGETS_PER_GATEWAY), those that failed
   * lately last.
   */
  async addresses(host: string, port: number): Promise<AddressesAnswer> {
    if (isIP(host) !== 0) return { ok: true, addresses: [host] };
    if (isLocalhost(host)) return { ok: true, addresses: ['127.0.0.1'] };
    const name = normalName(host);
    const a = await this.#dns.a.query(name);
    if (!a.ok && a.failure === 'server_failure') return { ok: false, detail: `A ${name}: ${a.code}` };
    const answer = a.ok ? a : await this.#dns.aaaa.query(name);
    if (!answer.ok) return { ok: false, detail: `A/AAAA ${name}: ${answer.code}` };
    const failed = (address: string) => this.hasFailed(address, port);
    const all = answer.records.slice(0, MAX_TARGETS_PER_GATEWAY).map((record) => record.address);
    const [first = answer.records[0].address, ...rest] = [
      ...all.filter((address) => !failed(address)),
      ...all.filter(failed),
    ];
    return { ok: true, addresses: [first, ...rest] };
  }

  /** Whether `address` failed at `port` lately (see `failed`). */
  hasFailed(address: string, port: number): boolean {
    return (this.#failed.get(`${address} ${port}`) ?? 0) > this.#clock.now();
  }

  /** `address` did not answer at `port` (timeout, transport error, 503): try its siblings first. */
  failed(address: string, port: number): void {
    const key = `${address} ${port}`;
    this.#failed.delete(key);
    this.#failed.set(key, this.#clock.now() + FAILED_ADDRESS_MS);
    for (const oldest of this.#failed.keys()) {
      if (this.#failed.size <= MAX_FAILED_ADDRESSES) break;
      this.#failed.delete(oldest);
    }
  }

  /** Ends the DNS queries in flight; idempotent. */
  close(): void {
    this.#dns.close();
  }
}

/**
 * Locating a gateway's SIP servers (RFC 3263 §4) for its configured transport:
 * - an IP address, or a name with a port, is one target (§4.2: a port means no SRV);
 * - a name without a port: NAPTR (§4.1) picks the SRV name for the transport
 *   (`SIP+D2U` → `_sip._udp`, `SIP+D2T` → `_sip._tcp`, `SIPS+D2T` → `_sips._tcp`), or the SRV
 *   name is built from it when no NAPTR record offers the transport; the SRV records are the
 *   targets (RFC 2782; the router orders them by priority and weight); with no SRV records, the
 *   name itself at 5060 (5061 over TLS);
 * - each target's address is an A record, else an AAAA record, asked when it is tried.
 * `localhost` is the loopback address without asking DNS (RFC 6761 §6.3).
 */
import { isIP } from 'node:net';
import type { OutboundGatewayConfig } from '../config/index.js';
import { CachingDns, type DnsCacheOptions, type DnsClient } from './dns.js';

export type GatewayTransport = OutboundGatewayConfig['transport'];

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

const isLocalhost = (host: string): boolean => host === 'localhost' || host.endsWith('.localhost');

/** A DNS name as the cache keys it: lower case, without the root's trailing dot. */
const normalName = (host: string): string => host.toLowerCase().replace(/\.$/, '');

/** The gateway's only target when DNS cannot give it more (an address, a port, or localhost). */
export function fixedTarget(gateway: OutboundGatewayConfig): ServiceTarget | undefined {
  const fixed = gateway.port !== undefined || isIP(gateway.host) !== 0 || isLocalhost(gateway.host);
  if (!fixed) return undefined;
  const port = gateway.port ?? TRANSPORTS[gateway.transport].defaultPort;
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

  constructor(options: ServerLocatorOptions) {
    this.#dns = new CachingDns(options.dns, options);
  }

  /** The gateway's targets, unordered (the router orders them), or why DNS could not say. */
  async targets(gateway: OutboundGatewayConfig): Promise<TargetsAnswer> {
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

  /** The address to send to: the host itself when it is one, else its first A, else AAAA record. */
  async address(host: string): Promise<AddressAnswer> {
    if (isIP(host) !== 0) return { ok: true, address: host };
    if (isLocalhost(host)) return { ok: true, address: '127.0.0.1' };
    const name = normalName(host);
    const a = await this.#dns.a.query(name);
    if (a.ok) return { ok: true, address: a.records[0].address };
    if (a.failure === 'server_failure') return { ok: false, detail: `A ${name}: ${a.code}` };
    const aaaa = await this.#dns.aaaa.query(name);
    if (aaaa.ok) return { ok: true, address: aaaa.records[0].address };
    return { ok: false, detail: `A/AAAA ${name}: ${aaaa.code}` };
  }

  /** Ends the DNS queries in flight; idempotent. */
  close(): void {
    this.#dns.close();
  }
}

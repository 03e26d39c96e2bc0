/** A DnsClient over in-memory records, with a switch that makes it a failing server. */
import type { NaptrRecord, RecordWithTtl, SrvRecord } from 'node:dns';
import { gatewayFileSchema } from '../../../src/config/index.js';
import { type DnsClient, ServerLocator } from '../../../src/trunks/index.js';
import { type Clock, type Logger, silentLogger } from '../../../src/util/index.js';

/** The gateway file's default `dns.cache` settings. */
export const DEFAULT_DNS_CACHE = gatewayFileSchema.parse({}).dns.cache;

function dnsError(code: string): Error {
  return Object.assign(new Error(`fake dns: ${code}`), { code });
}

export class FakeDns implements DnsClient {
  /** Every query, as `TYPE name`, in order. */
  readonly asked: string[] = [];
  /** Records by name; a name with none answers ENOTFOUND (NXDOMAIN). */
  readonly naptrRecords = new Map<string, NaptrRecord[]>();
  readonly srvRecords = new Map<string, SrvRecord[]>();
  readonly aRecords = new Map<string, RecordWithTtl[]>();
  readonly aaaaRecords = new Map<string, RecordWithTtl[]>();
  /** When set, every query fails with this code (ESERVFAIL, ETIMEOUT...): a failing server. */
  serverError: string | undefined;
  /** Error codes for single queries, by `TYPE name`. */
  readonly errors = new Map<string, string>();
  cancelled = 0;

  naptr(name: string): Promise<NaptrRecord[]> {
    return this.#answer('NAPTR', this.naptrRecords, name);
  }
  srv(name: string): Promise<SrvRecord[]> {
    return this.#answer('SRV', this.srvRecords, name);
  }
  a(name: string): Promise<RecordWithTtl[]> {
    return this.#answer('A', this.aRecords, name);
  }
  aaaa(name: string): Promise<RecordWithTtl[]> {
    return this.#answer('AAAA', this.aaaaRecords, name);
  }
  cancel(): void {
    this.cancelled++;
  }

  /** `_sip._udp.<domain>` SRV records, each target with an A record (TTL 300). */
  addService(
    domain: string,
    targets: Array<{ host: string; port: number; priority: number; weight: number; address: string }>,
  ): void {
    this.srvRecords.set(
      `_sip._udp.${domain}`,
      targets.map(({ host, port, priority, weight }) => ({ name: host, port, priority, weight })),
    );
    for (const target of targets) this.aRecords.set(target.host, [{ address: target.address, ttl: 300 }]);
  }

  /** How many queries asked `TYPE name`. */
  count(query: string): number {
    return this.asked.filter((asked) => asked === query).length;
  }

  #answer<T>(type: string, records: Map<string, T[]>, name: string): Promise<T[]> {
    const query = `${type} ${name}`;
    this.asked.push(query);
    const error = this.serverError ?? this.errors.get(query);
    if (error) return Promise.reject(dnsError(error));
    const found = records.get(name);
    return found ? Promise.resolve([...found]) : Promise.reject(dnsError('ENOTFOUND'));
  }
}

export function fakeLocator(
  clock: Clock,
  dns: DnsClient = new FakeDns(),
  config = DEFAULT_DNS_CACHE,
  logger: Logger = silentLogger,
): ServerLocator {
  return new ServerLocator({ dns, clock, logger, config });
}

/**
 * A registrar named by DNS is located as a gateway is (RFC 3263 §4): without a port NAPTR and
 * SRV give its servers, in RFC 2782's order; with one, its A or AAAA records (§4.2). Each
 * REGISTER goes to the first of them whose
 * address has not failed lately, so after a timeout, transport error or 503 (§4.3) the next
 * attempt, after the registration's backoff, goes to the next server. The Request-URI keeps the
 * domain (RFC 3261 §10.2), and over TLS the server is verified as the domain (RFC 5922 §4).
 * Every server of the name may send the calls for our binding (a carrier's edge proxies share
 * its registrations), so their addresses are kept as the registrar's.
 */
import type { RegistrarLink, RegistrarNotFound, TransportAddress } from '../sip/index.js';
import { type LocatedServer, priorityWeightedOrder, type ServerLocator } from '../trunks/index.js';

export interface LocatingRegistrarLink extends RegistrarLink {
  /** The addresses of every server the registrar's name gave for the last REGISTER. */
  readonly serverAddresses: readonly string[];
}

export function locatingRegistrarLink(
  link: RegistrarLink,
  locator: ServerLocator,
  server: LocatedServer,
  random: () => number = Math.random,
): LocatingRegistrarLink {
  let serverAddresses: readonly string[] = [];
  return {
    get serverAddresses() {
      return serverAddresses;
    },
    contactHeader: (transport, secure, user, at) => link.contactHeader(transport, secure, user, at),
    keepAlive: (destination) => link.keepAlive(destination),
    contactMoved: (user, at) => link.contactMoved(user, at),
    exchange: async (request, configured) => {
      const servers = await locate(locator, server, configured, random);
      if ('dnsFailure' in servers) return servers;
      serverAddresses = servers.addresses;
      const located = servers.destination;
      const outcome = await link.exchange(request, located);
      if (typeof outcome === 'string' || ('response' in outcome && outcome.response.status === 503))
        locator.failed(located.address, located.port);
      return outcome;
    },
  };
}

/**
 * Where the REGISTER goes: the first server, in RFC 2782's order, whose address has not failed
 * lately, else the first; and every address of every server. Or what DNS said when no server
 * has an address.
 */
async function locate(
  locator: ServerLocator,
  server: LocatedServer,
  configured: TransportAddress,
  random: () => number,
): Promise<{ destination: TransportAddress; addresses: string[] } | RegistrarNotFound> {
  const answer = await locator.targets(server);
  if (!answer.ok) return { dnsFailure: answer.detail };
  let chosen: TransportAddress | undefined;
  let fallback: TransportAddress | undefined;
  let lastFailure = `no address for ${server.host}`;
  const all = new Set<string>();
  for (const target of priorityWeightedOrder(answer.targets, random)) {
    const addresses = await locator.addresses(target.host, target.port);
    if (!addresses.ok) {
      lastFailure = addresses.detail;
      continue;
    }
    for (const address of addresses.addresses) all.add(address);
    const [address] = addresses.addresses;
    const destination = { ...configured, address, port: target.port };
    if (!chosen && !locator.hasFailed(address, target.port)) chosen = destination;
    fallback ??= destination;
  }
  const destination = chosen ?? fallback;
  return destination ? { destination, addresses: [...all] } : { dnsFailure: lastFailure };
}

/**
 * A registrar named by DNS without a port is located as a gateway is (RFC 3263 §4): NAPTR and
 * SRV give its servers, in RFC 2782's order. Each REGISTER goes to the first of them whose
 * address has not failed lately, so after a timeout, transport error or 503 (§4.3) the next
 * attempt, after the registration's backoff, goes to the next server. The Request-URI keeps the
 * domain (RFC 3261 §10.2), and over TLS the server is verified as the domain (RFC 5922 §4).
 */
import type { RegistrarLink, RegistrarNotFound, TransportAddress } from '../sip/index.js';
import { type LocatedServer, priorityWeightedOrder, type ServerLocator } from '../trunks/index.js';

export function locatingRegistrarLink(
  link: RegistrarLink,
  locator: ServerLocator,
  server: LocatedServer,
  random: () => number = Math.random,
): RegistrarLink {
  return {
    contactHeader: (transport, secure, user) => link.contactHeader(transport, secure, user),
    exchange: async (request, configured) => {
      const located = await locate(locator, server, configured, random);
      if ('dnsFailure' in located) return located;
      const outcome = await link.exchange(request, located);
      if (typeof outcome === 'string' || ('response' in outcome && outcome.response.status === 503))
        locator.failed(located.address, located.port);
      return outcome;
    },
  };
}

/**
 * The first server, in RFC 2782's order, whose address has not failed lately; else the first;
 * or what DNS said when no server has an address.
 */
async function locate(
  locator: ServerLocator,
  server: LocatedServer,
  configured: TransportAddress,
  random: () => number,
): Promise<TransportAddress | RegistrarNotFound> {
  const answer = await locator.targets(server);
  if (!answer.ok) return { dnsFailure: answer.detail };
  let fallback: TransportAddress | undefined;
  let lastFailure = `no address for ${server.host}`;
  for (const target of priorityWeightedOrder(answer.targets, random)) {
    const addresses = await locator.addresses(target.host, target.port);
    if (!addresses.ok) {
      lastFailure = addresses.detail;
      continue;
    }
    const [address] = addresses.addresses;
    const destination = { ...configured, address, port: target.port };
    if (!locator.hasFailed(address, target.port)) return destination;
    fallback ??= destination;
  }
  return fallback ?? { dnsFailure: lastFailure };
}

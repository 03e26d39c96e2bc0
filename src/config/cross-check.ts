/**
 * Checks between the gateway file and the trunk files, each issue at the line that has to
 * change: every transport a trunk dials, registers or takes calls over has a listener; with
 * mutual TLS, a trunk that takes calls over TLS has names to match client certificates against,
 * and names are only given where a listener asks for certificates; every route names a trunk
 * that exists and that calls arrive on.
 */
import { basename } from 'node:path';
import type { ConfigIssue } from './errors.js';
import type { GatewayFileConfig, TrunkConfig } from './schema.js';
import { clientCertificateNames, requiresClientCert } from './tls-clients.js';
import type { PathKey } from './yaml-nodes.js';

/** A validated file that can still name the line of a path, and tell whether it wrote the path. */
export interface LocatedFile<T> {
  value: T;
  issueAt(path: readonly PathKey[], message: string): ConfigIssue;
  written(path: readonly PathKey[]): boolean;
}

export function crossCheck(
  gatewayFile: string,
  gateway: LocatedFile<GatewayFileConfig>,
  trunks: ReadonlyMap<string, LocatedFile<TrunkConfig>>,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const listening = new Set<string>(gateway.value.listen.map((listen) => listen.transport));
  const mutualTls = requiresClientCert(gateway.value);
  const addListener = (transport: string) =>
    `add a listen entry with transport: ${transport} to ${basename(gatewayFile)}`;
  for (const { value: trunk, issueAt, written } of trunks.values()) {
    // The transport sends from its listener's socket, and the Contact it writes names that listener.
    trunk.outbound?.gateways.forEach((outbound, index) => {
      if (listening.has(outbound.transport)) return;
      const message = `trunk '${trunk.name}' dials over ${outbound.transport.toUpperCase()}: ${addListener(outbound.transport)} (its Contact takes the carrier's in-dialog requests)`;
      issues.push(issueAt(['outbound', 'gateways', index, 'transport'], message));
    });
    const register = trunk.outbound?.register;
    if (register && !listening.has(register.transport)) {
      const message = `trunk '${trunk.name}' registers over ${register.transport.toUpperCase()}: ${addListener(register.transport)} (the registrar sends calls to its Contact)`;
      issues.push(issueAt(['outbound', 'register', 'transport'], message));
    }
    // The default (every transport) means "whichever the gateway listens on": only a list as written is checked.
    if (trunk.inbound && written(['inbound', 'transports']))
      trunk.inbound.transports.forEach((transport, index) => {
        if (listening.has(transport)) return;
        const message = `no call can arrive over ${transport} without a listener: ${addListener(transport)} or drop ${transport} here`;
        issues.push(issueAt(['inbound', 'transports', index], message));
      });
    if (trunk.inbound?.tlsClientNames && !mutualTls) {
      const message = `no TLS listener asks clients for a certificate, so these names would be checked against nothing: set requireClientCert: true on the tls listen entry of ${basename(gatewayFile)} or drop tlsClientNames`;
      issues.push(issueAt(['inbound', 'tlsClientNames'], message));
    }
    // A trunk written to take TLS whose certificate nothing can match would have every call refused.
    const tls =
      trunk.inbound && written(['inbound', 'transports']) ? trunk.inbound.transports.indexOf('tls') : -1;
    if (mutualTls && tls >= 0 && clientCertificateNames(trunk).length === 0) {
      const message = `trunk '${trunk.name}' takes calls over TLS, where clients must show a certificate (requireClientCert), but has no name to match it against: set inbound.tlsClientNames or drop tls here`;
      issues.push(issueAt(['inbound', 'transports', tls], message));
    }
  }
  // Routes are chosen for inbound calls only (trunks/inbound.ts), which arrive on a trunk by
  // its source address (inbound) or its registered Contact (outbound.register).
  gateway.value.routes.forEach((route, index) => {
    if (route.trunk === undefined) return;
    const trunk = trunks.get(route.trunk)?.value;
    let message: string | undefined;
    if (!trunk)
      message = `unknown trunk '${route.trunk}' (known: ${[...trunks.keys()].join(', ') || 'none'})`;
    else if (!trunk.inbound && !trunk.outbound?.register)
      message = `trunk '${route.trunk}' takes no calls (it has neither inbound nor outbound.register): the route can never match`;
    if (message) issues.push(gateway.issueAt(['routes', index, 'trunk'], message));
  });
  return issues;
}

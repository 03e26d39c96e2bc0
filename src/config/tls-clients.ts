/**
 * Mutual TLS as trunks see it: whether the TLS listener asks clients for a certificate, and the
 * names a trunk's client certificate must carry for its requests over TLS to be its own.
 */
import { canonicalHost } from '../util/index.js';
import type { GatewayFileConfig, TrunkConfig } from './schema.js';

/** The TLS listener asks every client for a certificate (`requireClientCert`). */
export function requiresClientCert(gateway: GatewayFileConfig): boolean {
  return gateway.listen.some((listen) => listen.transport === 'tls' && listen.tls.requireClientCert);
}

/**
 * `inbound.tlsClientNames`, else each outbound gateway's host: a carrier's certificate names its
 * own hosts (RFC 5922 §7.1). As `canonicalHost` spells them; empty when the trunk has neither.
 */
export function clientCertificateNames(trunk: TrunkConfig): string[] {
  const names =
    trunk.inbound?.tlsClientNames ?? trunk.outbound?.gateways.map((gateway) => gateway.host) ?? [];
  return [...new Set(names.map((name) => canonicalHost(name.replace(/\.$/, ''))))];
}

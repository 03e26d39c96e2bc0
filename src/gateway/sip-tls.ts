/**
 * The config's side of SIP over TLS for the transport: listen entries with the listener's
 * credentials (the PEM text the config snapshot carries), how each new outbound connection
 * checks its server — a trunk gateway's or registrar's own CAs and `tlsVerify`, with its
 * configured host as the name (RFC 5922 §7.3) — and new credentials after a reload.
 */
import {
  type PatchbayConfig,
  parseHostAndPort,
  type RegisterConfig,
  type TrunkConfig,
} from '../config/index.js';
import type {
  ListenSpec,
  SipTransport,
  TlsClientPolicy,
  TlsListenerOptions,
  TransportAddress,
} from '../sip/index.js';
import { defaultSipPort } from '../trunks/index.js';
import type { Logger } from '../util/index.js';

/** The gateway file's listen entries as the transport binds them. */
export function listenSpecs(config: PatchbayConfig): ListenSpec[] {
  return config.gateway.listen.map((listen) =>
    listen.transport === 'tls'
      ? {
          transport: 'tls',
          address: listen.host,
          port: listen.port,
          tls: listenerOptions(config, listen.tls),
        }
      : { transport: listen.transport, address: listen.host, port: listen.port },
  );
}

/**
 * Where an attempt or an OPTIONS probe goes: the address its name resolved to and, over TLS,
 * the gateway's configured host as the name to verify (RFC 5922 §4: the domain that was
 * resolved, not an SRV target, which DNS could have changed).
 */
export function gatewayDestination(
  transport: TransportAddress['transport'],
  address: string,
  port: number,
  domain: string,
): TransportAddress {
  return { transport, address, port, ...(transport === 'tls' ? { serverName: domain } : {}) };
}

/**
 * A new connection to a trunk gateway or registrar (by the name it is verified as) is checked as
 * its trunk says; one to any other address (a Contact or Record-Route in a dialog) against the
 * system CAs and the address itself.
 */
export function tlsClientPolicy(config: PatchbayConfig, destination: TransportAddress): TlsClientPolicy {
  const name = (destination.serverName ?? destination.address).toLowerCase();
  for (const trunk of config.trunks.values())
    for (const peer of tlsPeersOf(trunk))
      if (peer.host.toLowerCase() === name) {
        const ca = peer.tlsCaFile === undefined ? undefined : config.tlsFiles.get(peer.tlsCaFile);
        return { serverName: peer.host, verify: peer.tlsVerify, ...(ca !== undefined ? { ca } : {}) };
      }
  return { serverName: destination.serverName ?? destination.address, verify: true };
}

interface TlsPeer {
  host: string;
  tlsCaFile?: string | undefined;
  tlsVerify: boolean;
}

/** A trunk's gateways and registrar reached over TLS, each by the name its certificate must carry. */
function* tlsPeersOf(trunk: TrunkConfig): Iterable<TlsPeer> {
  for (const gateway of trunk.outbound?.gateways ?? []) if (gateway.transport === 'tls') yield gateway;
  const register = trunk.outbound?.register;
  if (register?.transport === 'tls')
    yield {
      host: registrarServer(register.registrar)?.host ?? register.registrar,
      tlsCaFile: register.tlsCaFile,
      tlsVerify: register.tlsVerify,
    };
}

/**
 * A registrar setting (host or host:port) as its host, without an IPv6 address's brackets, and
 * its port if it names one; undefined when it is neither (the schema refuses such a setting).
 */
export function registrarServer(registrar: string): { host: string; port: number | undefined } | undefined {
  const parsed = parseHostAndPort(registrar);
  return parsed && { host: parsed.host.replace(/^\[(.*)\]$/, '$1'), port: parsed.port };
}

/**
 * Where a registration's REGISTERs go: the registrar's host at its port, the transport's default
 * when it names none; over TLS verified as that host (RFC 5922 §7.3), as a gateway is.
 */
export function registrarDestination(
  registrar: { host: string; port: number | undefined },
  transport: RegisterConfig['transport'],
): TransportAddress {
  const port = registrar.port ?? defaultSipPort(transport);
  return gatewayDestination(transport, registrar.host, port, registrar.host);
}

/** `;transport=tls` for a TLS gateway's URIs (RFC 3261 §19.1.1), the transport the target is reached over. */
export function uriTransportParam(transport: string): string {
  return transport === 'tls' ? ';transport=tls' : '';
}

/** After a reload: new TLS connections present the certificate now on disk, if it changed. */
export function reloadTlsCredentials(
  transport: Pick<SipTransport, 'setTlsCredentials'> | undefined,
  next: PatchbayConfig,
  previous: PatchbayConfig,
  logger: Logger,
): void {
  const now = tlsListen(next);
  const before = tlsListen(previous);
  if (!transport || !now) return;
  const credentials = listenerOptions(next, now.tls);
  const old = before ? listenerOptions(previous, before.tls) : undefined;
  if (old && old.cert === credentials.cert && old.key === credentials.key && old.ca === credentials.ca)
    return;
  transport.setTlsCredentials(credentials);
  logger.info({ certFile: now.tls.certFile }, 'sip tls certificate reloaded for new connections');
}

type TlsListen = Extract<PatchbayConfig['gateway']['listen'][number], { transport: 'tls' }>;

function tlsListen(config: PatchbayConfig): TlsListen | undefined {
  return config.gateway.listen.find((listen): listen is TlsListen => listen.transport === 'tls');
}

function listenerOptions(config: PatchbayConfig, tls: TlsListen['tls']): TlsListenerOptions {
  const pem = (file: string): string => {
    const text = config.tlsFiles.get(file);
    // The loader reads every file a TLS listener names; a snapshot without it is a bug.
    if (text === undefined) throw new Error(`TLS file ${file} was not loaded`);
    return text;
  };
  return {
    cert: pem(tls.certFile),
    key: pem(tls.keyFile),
    ...(tls.caFile !== undefined ? { ca: pem(tls.caFile) } : {}),
    requireClientCert: tls.requireClientCert,
  };
}

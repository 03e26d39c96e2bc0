/**
 * What a reload cannot change: the parts of the gateway file read once, at start (sockets
 * bound, servers listening, the cluster joined, the logger made). A reload that changes one
 * keeps the running value, so the operator is told which, by name, to restart for.
 */
import { isDeepStrictEqual } from 'node:util';
import type { GatewayFileConfig } from '../config/index.js';

const START_ONLY = [
  'listen',
  'rtp',
  'media',
  'publicAddress',
  'api',
  'logLevel',
  'callRecords',
  'cluster',
  'dns',
  'sip',
] as const satisfies ReadonlyArray<keyof GatewayFileConfig>;

/** The start-only settings that differ between two loads (their names only: no values, no secrets). */
export function startOnlyChanges(previous: GatewayFileConfig, next: GatewayFileConfig): string[] {
  return START_ONLY.filter((key) => !isDeepStrictEqual(startView(previous, key), startView(next, key)));
}

/**
 * The setting as start fixed it. A TLS listener's certificate, key and CA files are re-read on
 * every reload (sip-tls.ts), so only the rest of a listener counts.
 */
function startView(config: GatewayFileConfig, key: (typeof START_ONLY)[number]): unknown {
  if (key !== 'listen') return config[key];
  return config.listen.map((listen) => {
    if (listen.transport !== 'tls') return listen;
    const { certFile: _cert, keyFile: _key, caFile: _ca, ...rest } = listen.tls;
    return { ...listen, tls: rest };
  });
}

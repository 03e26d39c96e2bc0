/**
 * What a NAT in front of us did to a request, as the far end's answer tells it: RFC 3581's
 * `received` (the source address, when not the Via's) and `rport` (the source port) in the top
 * Via.
 */
import { isIP } from 'node:net';
import type { SipResponse } from './message.js';
import type { Via } from './types.js';

/** An address of ours as a NAT maps it, seen from the far end. */
export interface PublicAddress {
  address: string;
  port: number;
}

const DEFAULT_SIP_PORT = 5060;

/**
 * Where the far end saw our request come from, by the top Via of its answer, when that is not
 * where the Via says we are: a NAT rewrote it. Undefined otherwise.
 *
 * Over UDP a rewritten address or port tells it. Over TCP or TLS the source port is never the
 * listening port the Via names (a connection has its own), so only a rewritten address tells a
 * NAT, and the public end of the connection is then where the far end can reach us: over that
 * connection, as a registrar that reuses connections by address and port does.
 */
export function natMapped(response: SipResponse): PublicAddress | undefined {
  let via: Via | undefined;
  try {
    via = response.topVia();
  } catch {
    return undefined;
  }
  if (!via) return undefined;
  const ownHost = via.host.replace(/^\[|\]$/g, '');
  const ownPort = via.port ?? DEFAULT_SIP_PORT;
  const received = via.params.get('received');
  const address = received && isIP(received) !== 0 ? received : ownHost;
  const rport = Number(via.params.get('rport') ?? Number.NaN);
  const seenPort = Number.isInteger(rport) && rport >= 1 && rport <= 65_535 ? rport : undefined;
  if (via.transport === 'UDP') {
    const port = seenPort ?? ownPort;
    return address === ownHost && port === ownPort ? undefined : { address, port };
  }
  if (via.transport !== 'TCP' && via.transport !== 'TLS') return undefined;
  // A Via naming us by host name always gets `received`: that is no NAT to move the Contact
  // for, when the name is reachable and the connection's end may not be. Without rport the
  // connection's public port is not known, and no Contact could name it.
  if (isIP(ownHost) === 0 || address === ownHost || seenPort === undefined) return undefined;
  return { address, port: seenPort };
}

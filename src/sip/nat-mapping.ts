/**
 * What a NAT in front of us did to a request over UDP, as the far end's answer tells it: RFC
 * 3581's `received` (the source address, when not the Via's) and `rport` (the source port) in
 * the top Via.
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
 * Where the far end saw our request over UDP come from, by the top Via of its answer, when that
 * is not where the Via says we are: a NAT rewrote it. Undefined otherwise.
 */
export function natMapped(response: SipResponse): PublicAddress | undefined {
  let via: Via | undefined;
  try {
    via = response.topVia();
  } catch {
    return undefined;
  }
  if (!via || via.transport !== 'UDP') return undefined;
  const ownHost = via.host.replace(/^\[|\]$/g, '');
  const ownPort = via.port ?? DEFAULT_SIP_PORT;
  const received = via.params.get('received');
  const address = received && isIP(received) !== 0 ? received : ownHost;
  const rport = Number(via.params.get('rport') ?? Number.NaN);
  const port = Number.isInteger(rport) && rport >= 1 && rport <= 65_535 ? rport : ownPort;
  return address === ownHost && port === ownPort ? undefined : { address, port };
}

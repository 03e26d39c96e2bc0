/** OPTIONS pings for trunk liveness (the trunks' OptionsProber), sent through the user agent. */
import { randomToken, SipRequest, type SipUserAgent } from '../sip/index.js';
import type { GatewayTarget, OptionsResult, ServerLocator } from '../trunks/index.js';
import { gatewayDestination, uriTransportParam } from './sip-tls.js';

export async function sendOptionsProbe(
  ua: SipUserAgent,
  locator: ServerLocator,
  target: GatewayTarget,
): Promise<OptionsResult> {
  const resolved = await locator.address(target.host, target.port);
  if (!resolved.ok) return 'dns_failure';
  const transport = target.transport;
  const uri = `sip:${target.host}:${target.port}${uriTransportParam(transport)}`;
  const request = new SipRequest('OPTIONS', uri);
  request.append('Max-Forwards', '70');
  request.append('From', `<sip:patchbay@${target.host}>;tag=${randomToken()}`);
  request.append('To', `<${uri}>`);
  request.append('Call-ID', randomToken(12));
  request.append('CSeq', '1 OPTIONS');
  request.append('Contact', ua.contactHeader(transport));
  const destination = gatewayDestination(transport, resolved.address, target.port, target.domain);
  const outcome = await ua.send(request, destination);
  // A name's dead address is probed after its siblings next time (RFC 3263 §4.3).
  if (outcome === 'timeout' || outcome === 'transport_error') locator.failed(resolved.address, target.port);
  return typeof outcome === 'string' ? outcome : { status: outcome.status };
}

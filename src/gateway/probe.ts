/** OPTIONS pings for trunk liveness (the trunks' OptionsProber), sent through the user agent. */
import type { OutboundGatewayConfig } from '../config/index.js';
import { randomToken, SipRequest, type SipUserAgent } from '../sip/index.js';
import type { OptionsResult } from '../trunks/index.js';

export async function sendOptionsProbe(
  ua: SipUserAgent,
  gateway: OutboundGatewayConfig,
): Promise<OptionsResult> {
  const transport = gateway.transport;
  const target = `sip:${gateway.host}:${gateway.port ?? 5060}`;
  const request = new SipRequest('OPTIONS', target);
  request.append('Max-Forwards', '70');
  request.append('From', `<sip:patchbay@${gateway.host}>;tag=${randomToken()}`);
  request.append('To', `<${target}>`);
  request.append('Call-ID', randomToken(12));
  request.append('CSeq', '1 OPTIONS');
  request.append('Contact', ua.contactHeader(transport));
  const outcome = await ua.send(request, { transport, address: gateway.host, port: gateway.port ?? 5060 });
  return typeof outcome === 'string' ? outcome : { status: outcome.status };
}

/**
 * The embedded demo config used by `patchbay start` without --config: SIP on
 * 127.0.0.1:5060 (UDP and TCP), every called number routed to the gateway's built-in
 * echo bot (`builtin:echo`), and one `local` trunk that admits loopback callers only.
 */
import { makeSnapshot, type PatchbayConfig } from './loader.js';
import { type GatewayFileInput, gatewayFileSchema, type TrunkFileInput, trunkSchema } from './schema.js';
import { DEMO_BOT_URL } from './stream-target-schema.js';

const demoGateway: GatewayFileInput = {
  listen: [
    { transport: 'udp', host: '127.0.0.1', port: 5060 },
    { transport: 'tcp', host: '127.0.0.1', port: 5060 },
  ],
  api: { host: '127.0.0.1', port: 8080 },
  routes: [{ match: '*', target: { url: DEMO_BOT_URL } }],
};

const loopbackTrunk: TrunkFileInput = {
  name: 'local',
  inbound: { allowedCidrs: ['127.0.0.0/8', '::1/128'], unknownSourceAction: 403 },
  probing: { enabled: false },
};

export function defaultConfig(): PatchbayConfig {
  return makeSnapshot(gatewayFileSchema.parse(demoGateway), [trunkSchema.parse(loopbackTrunk)], []);
}

/**
 * An in-process Gateway for tests: SIP/UDP and the API on free loopback ports, every number
 * routed to the embedded echo bot, the loopback trunk `local`, call records in `recordsFile`;
 * `extra` adds gateway-file keys (an RTP range, media workers); `allowedCidrs` narrows the
 * trunk's sources (default all of 127.0.0.0/8).
 */
import {
  ConfigManager,
  type GatewayFileInput,
  gatewayFileSchema,
  makeSnapshot,
  trunkSchema,
} from '../../../src/config/index.js';
import { Gateway } from '../../../src/gateway/index.js';
import { type Clock, silentLogger } from '../../../src/util/index.js';
import { freePort } from '../../interop/helpers/sipp.js';

export async function startLoopbackGateway(options: {
  clock: Clock;
  sipPort: number;
  recordsFile: string;
  extra?: Partial<GatewayFileInput>;
  allowedCidrs?: string[];
}): Promise<Gateway> {
  const { clock, sipPort, recordsFile, extra = {}, allowedCidrs = ['127.0.0.0/8'] } = options;
  const snapshot = makeSnapshot(
    gatewayFileSchema.parse({
      listen: [{ transport: 'udp', host: '127.0.0.1', port: sipPort }],
      api: { host: '127.0.0.1', port: await freePort() },
      routes: [{ match: '*', target: { url: 'builtin:echo' } }],
      callRecords: { enabled: true, path: recordsFile },
      ...extra,
    }),
    [
      trunkSchema.parse({
        name: 'local',
        inbound: { allowedCidrs },
        probing: { enabled: false },
      }),
    ],
    [],
  );
  const config = await ConfigManager.open({
    gatewayFile: '',
    env: {},
    clock,
    load: async () => ({ ok: true, value: snapshot }),
  });
  return Gateway.start({ config, logger: silentLogger, clock });
}

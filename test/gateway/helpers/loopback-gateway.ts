/**
 * An in-process Gateway for tests: SIP/UDP and the API on free loopback ports, every number
 * routed to the embedded echo bot, the loopback trunk `local`, call records in `recordsFile`;
 * `extra` adds gateway-file keys (an RTP range, media workers); `allowedCidrs` narrows the
 * trunk's sources (default all of 127.0.0.0/8). `startGateway` starts one on any snapshot, and
 * `inviteText` is an INVITE with an SDP offer as a carrier writes it on a raw socket.
 */
import {
  ConfigManager,
  type GatewayFileInput,
  gatewayFileSchema,
  makeSnapshot,
  type PatchbayConfig,
  trunkSchema,
} from '../../../src/config/index.js';
import { Gateway } from '../../../src/gateway/index.js';
import { type Clock, silentLogger } from '../../../src/util/index.js';
import { freePort } from '../../interop/helpers/sipp.js';
import { ANSWER_SDP } from '../../interop/helpers/stack-ua.js';

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
  return startGateway(snapshot, clock);
}

/** A Gateway started in-process with `snapshot` as its whole configuration. */
export async function startGateway(snapshot: PatchbayConfig, clock: Clock): Promise<Gateway> {
  const config = await ConfigManager.open({
    gatewayFile: '',
    env: {},
    clock,
    load: async () => ({ ok: true, value: snapshot }),
  });
  return Gateway.start({ config, logger: silentLogger, clock });
}

/**
 * An INVITE to `requestUri` with an SDP offer (PCMU), sent from `local` (`address:port`) over
 * `transport`, as its wire text.
 */
export function inviteText(options: {
  requestUri: string;
  transport: 'UDP' | 'TLS';
  local: string;
  callId: string;
}): string {
  const { requestUri, transport, local, callId } = options;
  return [
    `INVITE ${requestUri} SIP/2.0`,
    `Via: SIP/2.0/${transport} ${local};branch=z9hG4bK-${callId}`,
    'Max-Forwards: 70',
    `From: <sip:+15551230000@${local}>;tag=${callId}`,
    'To: <sip:+15550100@127.0.0.1>',
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:carrier@${local}${transport === 'TLS' ? ';transport=tls' : ''}>`,
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(ANSWER_SDP)}`,
    '',
    ANSWER_SDP,
  ].join('\r\n');
}

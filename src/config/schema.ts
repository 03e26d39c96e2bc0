/**
 * The one definition of patchbay's configuration: the gateway file and one trunk file per
 * carrier under sip-profiles/. Objects are strict so a misspelt key is an error, and every
 * optional block has defaults (`prefault` parses `{}` so nested defaults apply).
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import {
  clusterSchema,
  dnsSchema,
  limitsSchema,
  mediaSchema,
  mediaWorkerCount,
  sipSchema,
} from './gateway-sections.js';
import { digestCredentials, outboundSchema } from './outbound-schema.js';
import { cidrProblem, compileNumberPattern, headerNamesDistinct, isHost, parseCidr } from './patterns.js';
import { addressSetting, callingCode, pemFile, port, positiveMs, transport } from './primitives.js';
import { checkedStreamTargetSchema, isBotUrl, type streamTargetSchema } from './stream-target-schema.js';
import { trunkMediaSchema } from './trunk-media-schema.js';

export const DEFAULT_SIP_PROFILES_DIR = 'sip-profiles';

/** A worker's slice of the RTP range: room for a few calls' even/odd pairs at the least. */
const MIN_PORTS_PER_WORKER = 8;

const ratio = z.number().min(0).max(1);

/** The control API's timeouts: Node takes whole ms and 0 for none, so not below 0.1 s; longer than an hour guards nothing. */
const apiTimeoutSec = z.number().min(0.1).max(3600);

const cidr = z.string().refine((text) => parseCidr(text) !== undefined, {
  error: (issue) => cidrProblem(String(issue.input)),
});

const numberPattern = z.string().superRefine((text, ctx) => {
  const compiled = compileNumberPattern(text);
  if (typeof compiled === 'string') ctx.addIssue({ code: 'custom', message: compiled });
});

// The codecs the media engine implements (src/media); G.722 is not one of them yet.
const codec = z.enum(['PCMU', 'PCMA', 'opus']);

// ---------------------------------------------------------------- trunk file

/** Token bucket limit: `rate` tokens per second, at most `burst` saved up. */
const cpsLimitSchema = z.strictObject({
  rate: z.number().positive(),
  burst: z.number().int().min(1),
});

const overflowSchema = z
  .strictObject({
    action: z
      .enum(['reject', 'queue', 'reroute'])
      .default('reject')
      .describe(
        'reject: 503 + Retry-After; queue: wait for a token up to queueTimeoutMs; reroute: use rerouteTo.',
      ),
    queueTimeoutMs: positiveMs.default(2000),
    maxQueued: z.number().int().min(1).max(10_000).default(100),
    rerouteTo: z
      .string()
      .min(1)
      .optional()
      .describe('Trunk name (outbound) or stream target URL (inbound) to use when the limit overflows.'),
  })
  .refine((o) => o.action !== 'reroute' || o.rerouteTo !== undefined, {
    message: "action 'reroute' needs rerouteTo",
    path: ['rerouteTo'],
  })
  // Only a reroute reads it: under reject or queue it would be accepted and ignored.
  .refine((o) => o.action === 'reroute' || o.rerouteTo === undefined, {
    message: "rerouteTo is only used by action 'reroute': set that action or drop rerouteTo",
    path: ['rerouteTo'],
  });

const cpsSchema = z.strictObject({
  rate: z.number().positive().default(10),
  burst: z.number().int().min(1).default(20),
  perNumber: cpsLimitSchema.optional(),
  overflow: overflowSchema.prefault({}),
});

/** A name a TLS client certificate carries: no wildcard, which matches nothing (RFC 5922 §7.2). */
const certificateName = addressSetting(
  isHost,
  'a host name or an IP address, as the certificate names it (no wildcard, no port)',
);

const inboundSchema = z.strictObject({
  allowedCidrs: z.array(cidr).min(1).describe('Source addresses of this carrier, IPv4 or IPv6 CIDR.'),
  numbers: z
    .array(numberPattern)
    .default([])
    .describe('Called numbers this trunk may deliver; empty means any.'),
  auth: digestCredentials
    .extend({
      algorithms: z
        .array(z.enum(['SHA-512-256', 'SHA-256', 'MD5']))
        .min(1)
        .default(['SHA-256', 'MD5'])
        .describe(
          'Challenges offered, one WWW-Authenticate each, in this order (RFC 8760 §2.4). Callers that answer only the first challenge and only know MD5 (SIPp, older PBXs) need [MD5].',
        ),
    })
    .optional(),
  unknownSourceAction: z
    .union([z.literal(403), z.literal('drop')], { error: "403 (answer Forbidden) or 'drop' (stay silent)" })
    .default('drop')
    .describe('403 answers; drop stays silent (cheaper against scanners).'),
  transports: z
    .array(transport)
    .min(1)
    .default(['udp', 'tcp', 'tls'])
    .describe(
      'Transports this trunk may call in over, e.g. [tls]; a new request over another is refused like an unknown source (unknownSourceAction).',
    ),
  tlsClientNames: z
    .array(certificateName)
    .min(1)
    .optional()
    .describe(
      "With a TLS listener that has requireClientCert: the names (subjectAltName DNS, sip: URI or IP, else the Common Name; RFC 5922 §7.1) one of which this carrier's client certificate must carry; a request over TLS whose certificate names none is refused like an unknown source. Default: each outbound gateway's host.",
    ),
});

/** Headers passed to the bot at most per trunk: context, not the whole INVITE. */
const MAX_PASSED_HEADERS = 16;
/**
 * A header the bot may be handed: an RFC 3261 §25.1 token of 2-22 characters (its parameter
 * name, sipHeader_<name>, stays within a call snapshot's 32; a one-letter compact form could
 * name one of the headers below); not one whose value is a credential, nor one already handed
 * on as a caller identity parameter.
 */
const NEVER_PASSED: ReadonlyMap<string, string> = new Map([
  ['authorization', 'carries credentials'],
  ['proxy-authorization', 'carries credentials'],
  ['from', 'is already sipFrom'],
  ['p-asserted-identity', 'is already sipPAssertedIdentity (trustPai)'],
  ['privacy', 'is already sipPrivacy'],
  ['diversion', 'is already sipDiversion'],
  ['remote-party-id', 'is already sipRemotePartyId (trustPai)'],
  ['identity', 'is already read into sipAttestation (trustPai)'],
]);
const passedHeaderName = z
  .string()
  .regex(/^[A-Za-z0-9.!%*_+\x60'~-]{2,22}$/, 'a header name in full (an RFC 3261 token of 2-22 characters)')
  .superRefine((name, context) => {
    const why = NEVER_PASSED.get(name.toLowerCase());
    if (why) context.addIssue({ code: 'custom', message: `${name} is not passed: it ${why}` });
  });

const probingSchema = z.strictObject({
  enabled: z.boolean().default(true),
  intervalMs: positiveMs.min(1000).default(30_000),
  timeoutMs: positiveMs
    .default(5000)
    .describe(
      'A probe with no final answer after this long counts as failed (the OPTIONS transaction itself runs to Timer F, 32 s).',
    ),
  jitter: ratio
    .default(0.1)
    .describe('Random spread of each interval, ± this fraction, so gateways are not probed in lockstep.'),
  failuresToMarkDown: z.number().int().min(1).default(3),
  successesToMarkUp: z.number().int().min(1).default(2),
  // A probe is judged on its final answer: a 1xx is provisional, never final (RFC 3261 §7.2).
  acceptedCodes: z.array(z.number().int().min(200).max(699)).min(1).default([200]),
});

/** Health metrics where higher is better; for the others (delays) a threshold is an upper bound. */
export const HEALTH_HIGHER_IS_BETTER = {
  asr: true,
  ccr: true,
  pddMs: false,
  astMs: false,
  acdSec: true,
  mos: true,
} as const;
export type HealthMetricName = keyof typeof HEALTH_HIGHER_IS_BETTER;

/** `critical` must lie past `warn` in the metric's worse direction, or the warn level never applies. */
const threshold = (metric: HealthMetricName, warn: number, critical: number) => {
  const higherIsBetter = HEALTH_HIGHER_IS_BETTER[metric];
  return z
    .strictObject({
      warn: z.number().default(warn),
      critical: z.number().default(critical),
      warnPenalty: ratio.default(0.8),
      criticalPenalty: ratio.default(0.3),
    })
    .refine((t) => (higherIsBetter ? t.critical < t.warn : t.critical > t.warn), {
      message: `critical must be ${higherIsBetter ? 'below' : 'above'} warn: a ${higherIsBetter ? 'lower' : 'higher'} ${metric} is worse`,
      path: ['critical'],
    })
    .prefault({});
};

const healthSchema = z
  .strictObject({
    windowMs: positiveMs.default(600_000),
    bucketMs: positiveMs.default(60_000),
    minCalls: z.number().int().min(1).default(10),
    minMediaSamples: z.number().int().min(1).default(5),
    asr: threshold('asr', 0.5, 0.3),
    ccr: threshold('ccr', 0.9, 0.7),
    pddMs: threshold('pddMs', 4000, 8000),
    astMs: threshold('astMs', 6000, 12_000),
    acdSec: threshold('acdSec', 30, 10),
    mos: threshold('mos', 3.6, 3.1),
  })
  // The window is a ring of whole buckets: a shorter one would silently be one bucket.
  .refine((health) => health.windowMs >= health.bucketMs, {
    message: 'windowMs must be at least bucketMs (the window holds whole buckets)',
    path: ['windowMs'],
  });

export const trunkSchema = z
  .strictObject({
    name: z.string().regex(/^[a-zA-Z0-9_-]+$/, 'letters, digits, - and _ only'),
    inbound: inboundSchema.optional(),
    outbound: outboundSchema.optional(),
    codecs: z.array(codec).min(1).default(['PCMU', 'PCMA']),
    media: trunkMediaSchema.prefault({}),
    cps: cpsSchema.prefault({}),
    maxConcurrentCalls: z.number().int().min(1).default(100),
    inboundCountry: callingCode
      .optional()
      .describe(
        "The country of the numbers this trunk's calls carry without a +: set, their called and calling numbers, national (020 7946 0018) or international without the + (442079460018), are read as E.164 before routes and inbound.numbers match them and the bot and the record see them; short codes and extensions stay as sent. Unset, numbers are taken as they come.",
      ),
    trustPai: z
      .boolean()
      .default(false)
      .describe(
        "The carrier is in our trust domain (RFC 3325 §2.3): the P-Asserted-Identity and Remote-Party-ID of its calls, and what they say of STIR/SHAKEN (verstat, the Identity header's attestation), are passed to the bot. Other trunks' are dropped.",
      ),
    passHeaders: z
      .array(passedHeaderName)
      .max(MAX_PASSED_HEADERS)
      .default([])
      .refine(headerNamesDistinct, { message: 'each header once' })
      .describe(
        "Headers of this trunk's inbound INVITEs handed to the bot as start parameters sipHeader_<name> (e.g. [User-to-User, X-Customer-Id]: context a contact centre or PBX sends along), each as printable text of at most 512 characters, a header's lines joined with ', '; absent from the INVITE, absent for the bot.",
      ),
    probing: probingSchema.prefault({}),
    health: healthSchema.prefault({}),
  })
  .refine((t) => t.inbound !== undefined || t.outbound !== undefined, {
    message: 'a trunk needs an inbound or an outbound section',
  })
  .refine((t) => t.inboundCountry === undefined || t.inbound !== undefined || t.outbound?.register, {
    message:
      'inboundCountry reads the numbers of calls the trunk takes: it takes none without an inbound section or outbound.register',
    path: ['inboundCountry'],
  })
  // The names are read for requests over TLS only: with TLS refused they would be ignored.
  .refine((t) => t.inbound?.tlsClientNames === undefined || t.inbound.transports.includes('tls'), {
    message: 'tlsClientNames are checked on calls over TLS: add tls to transports or drop tlsClientNames',
    path: ['inbound', 'tlsClientNames'],
  })
  .superRefine((trunk, ctx) => {
    const { rerouteTo } = trunk.cps.overflow;
    if (rerouteTo === undefined) return;
    const path = ['cps', 'overflow', 'rerouteTo'];
    // Inbound, the trunk's overflow reroutes to another bot; outbound, to another trunk.
    if (trunk.inbound && trunk.outbound)
      ctx.addIssue({
        code: 'custom',
        path,
        message:
          'rerouteTo names a bot for inbound calls and a trunk for outbound ones: on a trunk with both sections, reroute inbound calls at their routes (routes[].cps) instead',
      });
    else if (trunk.inbound && !isBotUrl(rerouteTo))
      ctx.addIssue({
        code: 'custom',
        path,
        message: "an inbound trunk's rerouteTo is a bot: ws://, wss:// or builtin:echo",
      });
    else if (trunk.outbound && isBotUrl(rerouteTo))
      ctx.addIssue({
        code: 'custom',
        path,
        message: "an outbound trunk's rerouteTo is the name of another trunk",
      });
  });

// ---------------------------------------------------------------- gateway file

const routeSchema = z.strictObject({
  match: numberPattern.describe('Called-number pattern (see NumberPattern).'),
  trunk: z.string().optional().describe('Restrict the route to calls arriving on this trunk.'),
  target: checkedStreamTargetSchema,
  cps: z
    .strictObject({
      rate: z.number().positive(),
      burst: z.number().int().min(1),
      overflow: overflowSchema
        .refine((overflow) => overflow.rerouteTo === undefined || isBotUrl(overflow.rerouteTo), {
          message: "a route's rerouteTo is the bot to stream to instead: ws://, wss:// or builtin:echo",
          path: ['rerouteTo'],
        })
        .prefault({}),
    })
    .optional(),
});

const HOST_MESSAGE = 'an IP address or a host name (RFC 1123), without a port';
const host = addressSetting(isHost, HOST_MESSAGE);
const listenHost = host.default('0.0.0.0');

const tlsListenSchema = z
  .strictObject({
    certFile: pemFile(
      "Certificate chain (leaf first), relative to the gateway file's directory; re-read on SIGHUP.",
    ),
    keyFile: pemFile('Unencrypted private key of certFile; re-read on SIGHUP.'),
    caFile: pemFile('CAs client certificates must chain to; default the system CAs.').optional(),
    requireClientCert: z
      .boolean()
      .default(false)
      .describe(
        'Refuse clients without a certificate that chains to caFile (mutual TLS), and take a request over TLS only from a trunk one of whose names the certificate carries (inbound.tlsClientNames, default its outbound gateway hosts); applies at start.',
      ),
  })
  .refine((tls) => tls.caFile === undefined || tls.requireClientCert, {
    message: 'caFile is what client certificates are checked against: it needs requireClientCert: true',
    path: ['caFile'],
  });

const listenSchema = z.discriminatedUnion(
  'transport',
  [
    z.strictObject({ transport: z.enum(['udp', 'tcp']), host: listenHost, port: port.default(5060) }),
    z.strictObject({
      transport: z.literal('tls'),
      host: listenHost,
      port: port.default(5061),
      tls: tlsListenSchema,
    }),
  ],
  {
    error: (issue) =>
      `transport must be udp, tcp or tls (got ${JSON.stringify((issue.input as { transport?: unknown } | undefined)?.transport)})`,
  },
);

export const gatewayFileSchema = z
  .strictObject({
    listen: z
      .array(listenSchema)
      .min(1)
      .superRefine((entries, ctx) => {
        entries.forEach((entry, index) => {
          if (entries.findIndex((other) => other.transport === entry.transport) < index)
            ctx.addIssue({
              code: 'custom',
              path: [index, 'transport'],
              message: `one ${entry.transport} listener only: the gateway binds one socket per transport`,
            });
        });
      })
      .default([
        { transport: 'udp', host: '0.0.0.0', port: 5060 },
        { transport: 'tcp', host: '0.0.0.0', port: 5060 },
      ]),
    rtp: z
      .strictObject({
        portMin: port.default(10_000),
        portMax: port.default(20_000),
        pacingLeadMs: z
          .number()
          .min(0)
          .max(5)
          .default(2)
          .describe(
            'The media clock wakes this early and waits out the rest precisely (a futex sleep, not a busy loop): each tick lands within ~0.1 ms of its 20 ms slot instead of ~1.5 ms. 0 turns it off.',
          ),
      })
      .refine((r) => r.portMin < r.portMax, { message: 'portMin must be below portMax', path: ['portMax'] })
      .prefault({}),
    media: mediaSchema,
    // The SDP c= address: peers, patchbay among them, take only an IP address there.
    publicAddress: addressSetting((text) => isIP(text) !== 0, 'an IPv4 or IPv6 address, without a port')
      .optional()
      .describe('Address written into SDP c= lines when the host is behind NAT.'),
    api: z
      .strictObject({
        host: host.default('127.0.0.1'),
        port: port.default(8080),
        bearerToken: z.string().min(16).optional(),
        maxConnections: z
          .number()
          .int()
          .min(1)
          .default(256)
          .describe(
            'Connections open to the API at once, kept-alive ones included; more are closed at accept (patchbay_api_connections_refused_total).',
          ),
        headerTimeoutSec: apiTimeoutSec
          .default(10)
          .describe(
            'A request whose headers are not complete this long after the connection opened, or after its first byte on a kept-alive connection, is answered 408 and its connection closed (slow clients); checked every quarter of this, at least once a second.',
          ),
        requestTimeoutSec: apiTimeoutSec
          .default(30)
          .describe(
            'A request not received whole, body included, this long after its first byte is answered 408 and its connection closed.',
          ),
        idleTimeoutSec: apiTimeoutSec
          .default(5)
          .describe(
            'A kept-alive connection with no next request this long after a response is closed (Node waits up to a second more, so a client told this in the Keep-Alive header closes first).',
          ),
      })
      .refine((api) => api.headerTimeoutSec <= api.requestTimeoutSec, {
        message: 'must not exceed requestTimeoutSec: the request timeout runs over the headers too',
        path: ['headerTimeoutSec'],
      })
      .prefault({})
      .describe("The control API's HTTP server. Read at start; a reload keeps it."),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
    callRecords: z
      .strictObject({ enabled: z.boolean().default(false), path: z.string().default('call-records.jsonl') })
      .prefault({}),
    limits: limitsSchema,
    cluster: clusterSchema,
    dns: dnsSchema.prefault({}),
    sip: sipSchema,
    routes: z.array(routeSchema).default([]),
    sipProfilesDir: z
      .string()
      .default(DEFAULT_SIP_PROFILES_DIR)
      .describe("Relative to the gateway file's directory."),
  })
  .superRefine((gateway, context) => {
    // Each media worker binds its calls' ports from its own slice of the range.
    const { portMin, portMax } = gateway.rtp;
    const workers = mediaWorkerCount(gateway.media);
    if (workers > 0 && (portMax - portMin + 1) / workers < MIN_PORTS_PER_WORKER)
      context.addIssue({
        code: 'custom',
        path: ['media', 'workers'],
        message: `rtp.portMin..portMax must hold at least ${MIN_PORTS_PER_WORKER} ports per media worker`,
      });
    // Without publicAddress, the first listener's address is what SDP c= lines carry.
    const first = gateway.listen[0];
    if (gateway.publicAddress === undefined && first && isHost(first.host) && isIP(first.host) === 0)
      context.addIssue({
        code: 'custom',
        path: ['listen', 0, 'host'],
        message:
          'SDP c= lines carry this address when publicAddress is absent: give an IP address or set publicAddress',
      });
    // Other nodes forward hang-ups to this address: a wildcard bind names no reachable host.
    const wildcard = gateway.api.host === '0.0.0.0' || gateway.api.host === '::';
    if (gateway.cluster && gateway.cluster.apiUrl === undefined && wildcard)
      context.addIssue({
        code: 'custom',
        path: ['cluster', 'apiUrl'],
        message: 'required when api.host is a wildcard address: the URL other nodes reach this API at',
      });
  });

export type TrunkConfig = z.output<typeof trunkSchema>;
export type InboundConfig = z.output<typeof inboundSchema>;
export type OutboundConfig = z.output<typeof outboundSchema>;
export type ProbingConfig = z.output<typeof probingSchema>;
export type HealthConfig = z.output<typeof healthSchema>;
export type CpsConfig = z.output<typeof cpsSchema>;
export type CpsLimit = z.output<typeof cpsLimitSchema>;
export type OverflowConfig = z.output<typeof overflowSchema>;
export type StreamTarget = z.output<typeof streamTargetSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type GatewayFileConfig = z.output<typeof gatewayFileSchema>;
export type DnsConfig = z.output<typeof dnsSchema>;
export type DnsCacheConfig = DnsConfig['cache'];
export type TrunkFileInput = z.input<typeof trunkSchema>;
export type GatewayFileInput = z.input<typeof gatewayFileSchema>;
export type ClusterConfig = NonNullable<GatewayFileConfig['cluster']>;
export type TakeoverConfig = NonNullable<ClusterConfig['takeover']>;

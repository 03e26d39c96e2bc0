/**
 * A trunk's outbound section: the carrier's gateways we dial, how we fail over between them,
 * the identity we dial with and the registration that makes the carrier send us calls.
 * Hosts and the user part go into SIP URIs as written, so they are checked to be what a URI
 * can carry (RFC 3261 §25.1).
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { callerIdSchema } from './caller-id-schema.js';
import { headerNamesDistinct, isHostName, parseHostAndPort } from './patterns.js';
import { callingCode, pemFile, port, positiveMs, transport } from './primitives.js';

/** A DNS name (a final dot allowed) or an IP address; an IPv6 one is bracketed in URIs. */
const uriHost = z.string().refine((host) => isHostName(host, true) || isIP(host) !== 0, {
  message: 'a DNS name or an IP address',
});
/** RFC 3261 §25.1 `user`: unreserved and user-unreserved characters, or %-escapes. */
const uriUser = z
  .string()
  .regex(
    /^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+$/,
    'the user part of a SIP URI (RFC 3261 §25.1)',
  );

/** RFC 3261 §21: codes on which trying the next gateway makes sense (plus timeouts and transport errors). */
const DEFAULT_FAILOVER_CODES: readonly number[] = [408, 480, 500, 502, 503, 504];
/**
 * Final answers about the callee, not the carrier: another gateway would only repeat them
 * (404 Not Found, 486 Busy Here, 603 Decline), and retrying a declined call rings twice.
 */
const NEVER_FAILOVER_CODES: ReadonlyMap<number, string> = new Map([
  [404, 'the number does not exist; another carrier would say the same'],
  [486, 'the callee is busy; retrying elsewhere would ring the callee again'],
  [603, 'the callee declined; retrying elsewhere would ring the callee again'],
]);

export const digestCredentials = z.strictObject({
  username: z.string().min(1),
  password: z.string().min(1),
  realm: z.string().min(1).optional(),
});

/** Credentials we answer a peer's 401/407 with (RFC 3261 §22.2), for one realm when it is named. */
const answeringCredentials = digestCredentials.extend({
  realm: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Only 401/407 challenges for this realm are answered (the password is offered to no other); absent: any realm the peer names.',
    ),
});

/** A registration-based trunk (RFC 3261 §10): we register at the carrier, which sends calls to our Contact. */
/**
 * How a TLS peer of ours (a trunk gateway, a registrar) is checked: its CAs and whether to check
 * at all. Both mean something only over TLS.
 */
const tlsPeerSettings = (whose: string) => ({
  tlsCaFile: pemFile(
    `CAs ${whose} certificate must chain to, relative to this trunk file's directory; default the system CAs.`,
  ).optional(),
  tlsVerify: z
    .boolean()
    .default(true)
    .describe(
      'false accepts any certificate under any name (labs only); true checks the chain and that it names host (RFC 5922).',
    ),
});

/** The refinements that keep tlsCaFile and tlsVerify to a TLS peer. */
function tlsOnlyWithTls<
  T extends z.ZodType<{ transport: string; tlsCaFile?: string | undefined; tlsVerify: boolean }>,
>(schema: T) {
  return schema
    .refine((peer) => peer.transport === 'tls' || peer.tlsCaFile === undefined, {
      message: 'tlsCaFile needs transport: tls',
      path: ['tlsCaFile'],
    })
    .refine((peer) => peer.transport === 'tls' || peer.tlsVerify, {
      message: 'tlsVerify needs transport: tls',
      path: ['tlsVerify'],
    });
}

const registerSchema = tlsOnlyWithTls(
  answeringCredentials.extend({
    registrar: z
      .string()
      .refine((text) => parseHostAndPort(text) !== undefined, {
        message: 'host or host:port (an IPv6 address in brackets)',
      })
      .describe(
        'The registrar as host[:port] (port 5060 by default, 5061 over TLS): REGISTER goes to sip:host[:port] for the address-of-record sip:username@host (RFC 3261 §10.2); over TLS, host is the name its certificate must carry.',
      ),
    expires: z
      .number()
      .int()
      .min(1)
      .max(86_400)
      .default(3600)
      .describe(
        'Seconds asked for; the registrar may grant less (refreshed at half of what it grants) or ask for more with 423 Min-Expires.',
      ),
    transport: transport.default('udp'),
    keepAliveSec: z
      .number()
      .int()
      .min(0)
      .max(600)
      .default(25)
      .describe(
        'Over UDP, while the registrar sees our REGISTERs come through a NAT (its Via says another address or port than ours, RFC 3581), a CRLF keep-alive goes to it this often, so the NAT keeps the mapping the registrar sends calls to; 0 sends none. Over TCP and TLS the connection keeps its own (sip.tcp.keepaliveIntervalSec).',
      ),
    ...tlsPeerSettings("the registrar's"),
  }),
);

const outboundGatewaySchema = tlsOnlyWithTls(
  z.strictObject({
    name: z.string().min(1).optional(),
    host: uriHost.describe('IP address or DNS name; over TLS, the name its certificate must carry.'),
    port: port
      .optional()
      .describe(
        'Absent for a DNS name: its targets come from NAPTR and SRV (RFC 3263); absent for an IP address: 5060, 5061 over TLS.',
      ),
    transport: transport.default('udp'),
    priority: z.number().int().min(0).default(1).describe('Lower is tried first.'),
    weight: z
      .number()
      .min(0)
      .default(1)
      .describe('Relative share within one priority, multiplied by the health score.'),
    ...tlsPeerSettings("the gateway's"),
  }),
);

const failoverCodes = z
  .array(z.number().int().min(300).max(699))
  .default([...DEFAULT_FAILOVER_CODES])
  .superRefine((codes, ctx) => {
    codes.forEach((code, index) => {
      const why =
        NEVER_FAILOVER_CODES.get(code) ??
        (code >= 600
          ? 'a 6xx is a global failure (RFC 3261 §21.6): every gateway would give the same answer'
          : undefined);
      if (why)
        ctx.addIssue({ code: 'custom', path: [index], message: `${code} must never fail over: ${why}` });
    });
  });

/**
 * Headers a trunk may add to its INVITEs: context and billing headers the gateway never writes
 * itself (X- headers, User-to-User RFC 7433, P-Charge-Info RFC 8496, Call-Info, Organization,
 * Subject, Priority RFC 3261 §20), so none can contradict the SIP it does write.
 */
const TRUNK_HEADER_NAME =
  /^(?:X-[A-Za-z0-9.!%*_+\x60'~-]{1,62}|User-to-User|P-Charge-Info|Call-Info|Organization|Subject|Priority)$/i;
const MAX_TRUNK_HEADERS = 16;
const trunkHeaders = z
  .record(
    z
      .string()
      .regex(
        TRUNK_HEADER_NAME,
        'an X- header, User-to-User, P-Charge-Info, Call-Info, Organization, Subject or Priority',
      ),
    z.string().regex(/^[\x20-\x7e]{1,512}$/, '1-512 printable ASCII characters'),
  )
  .refine((headers) => Object.keys(headers).length <= MAX_TRUNK_HEADERS, {
    message: `at most ${MAX_TRUNK_HEADERS} headers`,
  })
  .refine((headers) => headerNamesDistinct(Object.keys(headers)), { message: 'each header once' });

export const outboundSchema = z.strictObject({
  gateways: z.array(outboundGatewaySchema).min(1),
  auth: answeringCredentials.optional(),
  fromUser: uriUser.optional().describe('Replaces the From user part (the caller ID the carrier will see).'),
  fromHost: uriHost.optional().describe('The From host; default the address media is advertised on.'),
  toHost: uriHost.optional().describe("The Request-URI and To host; default the gateway's host."),
  userPhone: z
    .boolean()
    .default(false)
    .describe(
      'Add ;user=phone (RFC 3261 §19.1.1) to the Request-URI, To and From, and to the P-Asserted-Identity of an anonymous call, when their user part is a global telephone number (+digits; a local one would need a phone-context, RFC 3966): for carriers that want it, e.g. IMS interconnects.',
    ),
  defaultCountry: callingCode
    .default('1')
    .describe(
      'Country calling code used to normalise national numbers to E.164 by that country\'s rules (e.g. "1", "44"); a short code or extension is sent as it is.',
    ),
  failoverCodes: failoverCodes.describe(
    'Final codes that try the next gateway (timeouts and transport errors always do); never 404, 486 or a 6xx.',
  ),
  attemptTimeoutMs: positiveMs
    .default(8000)
    .describe(
      "Give up on one gateway after this long without a 180/183 or final answer; once it rings, only the call's ring timeout ends the attempt, without failover.",
    ),
  maxAttempts: z.number().int().min(1).max(10).default(3).describe('Gateways tried per call at most.'),
  headers: trunkHeaders
    .optional()
    .describe(
      "Headers every outbound INVITE of this trunk carries (e.g. {P-Charge-Info: '<sip:+15550100@carrier.example>', X-Account: '42'}): X- headers, User-to-User, P-Charge-Info, Call-Info, Organization, Subject or Priority, at most 16; a POST /v1/calls header of the same name replaces the trunk's for that call.",
    ),
  register: registerSchema
    .optional()
    .describe(
      "Register at the carrier (RFC 3261 §10): calls it sends to our registered Contact are this trunk's calls when they come from an address the registrar answered our standing binding from (or the registrar as configured, when it is an IP address), or from the trunk's inbound.allowedCidrs (proxies of the carrier other than its registrar); from elsewhere they are refused like an unknown source.",
    ),
  callerId: callerIdSchema
    .extend({
      remotePartyId: z
        .boolean()
        .default(false)
        .describe(
          'Also send Remote-Party-ID (draft-ietf-sip-privacy-04) with the asserted identity, for carriers that predate RFC 3325.',
        ),
    })
    .prefault({}),
});

export type RegisterConfig = z.output<typeof registerSchema>;
export type OutboundGatewayConfig = z.output<typeof outboundGatewaySchema>;

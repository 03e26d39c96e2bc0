/**
 * Sections of the gateway file that stand on their own: the cluster's shared state, DNS for
 * gateways given by name, the SIP transport limits and the node's call limits (schema.ts
 * assembles the file).
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { isDnsServer } from './patterns.js';
import { positiveMs } from './primitives.js';

/** How outbound gateways given by DNS name are resolved (RFC 3263) and how long answers are kept. */
export const dnsSchema = z.strictObject({
  servers: z
    .array(
      z.string().refine(isDnsServer, {
        message: 'an IP address with an optional port: 10.0.0.2, 127.0.0.1:5353 or [::1]:5353',
      }),
    )
    .min(1)
    .optional()
    .describe('DNS servers to ask; absent: the system resolvers (/etc/resolv.conf). /etc/hosts is not read.'),
  timeoutMs: positiveMs.default(2000).describe('Wait this long for one answer before asking again.'),
  tries: z.number().int().min(1).max(5).default(2).describe('Queries per lookup before it fails.'),
  cache: z
    .strictObject({
      minTtlSec: z
        .number()
        .int()
        .min(1)
        .default(10)
        .describe(
          'Answers are kept at least this long; NAPTR and SRV answers (node:dns does not report their TTL) exactly this long.',
        ),
      maxTtlSec: z.number().int().min(1).default(3600).describe('Answers are kept at most this long.'),
      negativeTtlSec: z
        .number()
        .int()
        .min(1)
        .default(30)
        .describe('NXDOMAIN, no records, or a failing server: remembered this long before asking again.'),
      maxStaleSec: z
        .number()
        .int()
        .min(0)
        .default(86_400)
        .describe(
          'While the DNS server fails, an expired answer is still used up to this long after it expired (RFC 8767); 0 never.',
        ),
      maxEntries: z
        .number()
        .int()
        .min(16)
        .default(1000)
        .describe('Names kept per record type (NAPTR, SRV, A, AAAA); the least recently used go first.'),
    })
    .refine((cache) => cache.minTtlSec <= cache.maxTtlSec, {
      message: 'minTtlSec must not exceed maxTtlSec',
      path: ['maxTtlSec'],
    })
    .prefault({}),
});

export const clusterSchema = z
  .strictObject({
    redis: z
      .string()
      .regex(/^rediss?:\/\//, 'redis:// or rediss:// URL')
      .describe(
        'The Redis every node shares (redis://[:password@]host:port/db, rediss:// for TLS): CPS buckets, concurrency leases, live nodes, the call registry and trunk health samples. While it is unreachable each node decides on local state.',
      ),
    nodeId: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,64}$/, 'letters, digits and . _ : - (at most 64)')
      .optional()
      .describe("This node's name in the cluster. Default: host name and first SIP port (host:5060)."),
    apiUrl: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe(
        "Where other nodes reach this node's control API to forward a hang-up or DTMF for a call it owns. Default: http://api.host:api.port (api.host must then not be a wildcard address).",
      ),
    leaseTtlMs: z
      .number()
      .int()
      .min(1000)
      .default(15_000)
      .describe(
        "A node's liveness, its calls' concurrency leases and registry entries expire this long after its last heartbeat: a dead node's slots free themselves within it.",
      ),
    heartbeatMs: z
      .number()
      .int()
      .min(100)
      .default(2000)
      .describe('How often a node renews its liveness, leases and registry entries and shares trunk health.'),
    localCpsShare: z
      .enum(['divide', 'full'])
      .default('divide')
      .describe(
        "While Redis is unreachable: 'divide' gives each node rate/N (and each trunk's concurrency cap/N, rounded up), N the live nodes last seen; 'full' the whole rate to every node.",
      ),
    maxCalls: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('Calls in progress across every node together (limits.maxCalls stays per node).'),
    takeover: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .describe(
            "Answered calls survive the death of their node: each node keeps a snapshot of its answered calls in Redis, and when a node's takeover heartbeat expires the live nodes claim its calls and resume them (a re-INVITE to the carrier, a new bot stream with the same callSid).",
          ),
        deadAfterMs: z
          .number()
          .int()
          .min(300)
          .max(60_000)
          .default(1500)
          .describe(
            'A node that has not renewed its takeover heartbeat for this long is dead and its calls are claimed (it renews every fifth of it). Shorter: a shorter audio gap; longer: fewer false takeovers of a node stalled by load.',
          ),
        snapshotIntervalMs: z
          .number()
          .int()
          .min(100)
          .max(10_000)
          .default(500)
          .describe(
            "How often a node writes what changed in its calls' snapshots and their RTP positions to Redis (off the media path, one round trip for all calls).",
          ),
        snapshotSecret: z
          .string()
          .min(32, 'at least 32 characters (for example `openssl rand -base64 32`)')
          .max(1024)
          .optional()
          .describe(
            'A secret every node shares (give it from the environment): SRTP calls are taken over too, their SDES keys written to Redis sealed under it (AES-256-GCM). Absent: SRTP calls end with their node, and their keys never leave it.',
          ),
        previousSnapshotSecrets: z
          .array(z.string().min(32, 'at least 32 characters').max(1024))
          .max(4)
          .default([])
          .describe(
            'Secrets snapshots sealed before may still be under (rotation: give every node the new snapshotSecret with the old one here, then drop it once each node writes with the new one); they open snapshots, never seal them.',
          ),
      })
      .refine((t) => t.previousSnapshotSecrets.length === 0 || t.snapshotSecret !== undefined, {
        message: 'previousSnapshotSecrets needs a snapshotSecret',
        path: ['previousSnapshotSecrets'],
      })
      .optional()
      .describe('Absent: a call ends with the node that carries it.'),
  })
  .refine((c) => c.heartbeatMs * 2 <= c.leaseTtlMs, {
    message: 'heartbeatMs must be at most half of leaseTtlMs (a lease must survive a missed heartbeat)',
    path: ['heartbeatMs'],
  })
  .optional()
  .describe('Absent: every limit, lease and call lives in this process.');

export const sipSchema = z
  .strictObject({
    udpReceiveBufferBytes: z
      .number()
      .int()
      .min(65_536)
      .default(4 << 20)
      .describe(
        'SO_RCVBUF of the SIP UDP socket; the kernel caps it at net.core.rmem_max (the size it granted is logged at start). Beyond it, datagrams are dropped by the kernel and counted in patchbay_sip_socket_drops_total.',
      ),
    tcp: z
      .strictObject({
        idleTimeoutSec: z
          .number()
          .positive()
          .default(300)
          .describe(
            'A TCP connection with no complete SIP message (or CRLF keep-alive) for this long is closed.',
          ),
        headerTimeoutSec: z
          .number()
          .positive()
          .default(10)
          .describe(
            "A TCP connection whose message headers are not complete this long after the message's first byte is closed (slow clients).",
          ),
        maxConnectionsPerSource: z
          .number()
          .int()
          .min(1)
          .default(64)
          .describe('TCP connections one address may hold; more are closed at accept.'),
        maxConnections: z
          .number()
          .int()
          .min(1)
          .default(1024)
          .describe('TCP connections in all; more are closed at accept.'),
        keepaliveIntervalSec: z
          .number()
          .min(0)
          .default(100)
          .describe(
            'CRLF pings on connections the gateway opened (RFC 5626 §4.4.1); a peer that has answered one pong and then misses one for 10 s is closed. 0 sends none.',
          ),
      })
      .prefault({})
      .describe('TCP connections, TLS ones included (one budget for both).'),
    tls: z
      .strictObject({
        handshakeTimeoutSec: z
          .number()
          .positive()
          .default(10)
          .describe('A TLS connection whose handshake has not finished this long after it opened is closed.'),
      })
      .prefault({}),
    transactionMemory: z
      .strictObject({
        maxBytesPerSource: z
          .number()
          .int()
          .min(65_536)
          .default(32 << 20)
          .describe(
            "Bytes one address's SIP server transactions may hold (each is charged its parsed request until answered, its stored response bytes and a fixed ~1.75 KB); beyond it its new requests get 503.",
          ),
        maxBytes: z
          .number()
          .int()
          .min(65_536)
          .default(128 << 20)
          .describe(
            'Bytes held by all SIP server transactions, charged the same way; beyond it new requests get 503.',
          ),
      })
      .prefault({}),
  })
  .prefault({});

/** Per-node call limits, timeouts and the overload admission. */
export const limitsSchema = z
  .strictObject({
    maxCalls: z.number().int().min(1).default(500),
    maxCallDurationSec: z.number().int().min(1).default(14_400),
    rtpInactivityTimeoutSec: z.number().int().min(1).default(30),
    drainTimeoutSec: z.number().int().min(0).default(300),
    requestsPerSourcePerSec: z
      .number()
      .positive()
      .default(200)
      .describe(
        'SIP requests per second one source address may send (burst twice that); beyond it they are dropped.',
      ),
    overload: z
      .strictObject({
        eventLoopDelayP99Ms: z
          .number()
          .positive()
          .optional()
          .describe('Overloaded while the p99 event-loop delay over the last window exceeds this.'),
        mediaClockLateShare: z
          .number()
          .gt(0)
          .max(1)
          .optional()
          .describe(
            "Overloaded while more than this share of the last window's media-clock ticks ran late (a frame or more after their slot) or were skipped.",
          ),
        eventLoopUtilization: z
          .number()
          .gt(0)
          .lt(1)
          .optional()
          .describe(
            "Overloaded while an event loop, the main thread's or a media worker's, was busy for more than this share of the last window (Node's event-loop utilization: the thread's CPU, counting a media clock's precise wait before each tick as busy). A leading signal: a node refusing at 0.8 refuses before the media clock falls behind, where the other two say calls already suffer.",
          ),
        windowSec: z.number().int().min(1).max(60).default(5),
        retryAfterSec: z
          .number()
          .int()
          .min(1)
          .max(3600)
          .default(5)
          .describe('Retry-After of the 503 that refuses a new INVITE while overloaded (RFC 3261 §21.5.4).'),
      })
      .refine(
        (overload) =>
          overload.eventLoopDelayP99Ms !== undefined ||
          overload.mediaClockLateShare !== undefined ||
          overload.eventLoopUtilization !== undefined,
        {
          message: 'give at least one of eventLoopDelayP99Ms, mediaClockLateShare and eventLoopUtilization',
        },
      )
      .optional()
      .describe(
        'While overloaded (a threshold crossed over the last window), new INVITEs are refused with 503 and Retry-After (cause rejected_overload) and OPTIONS to the node are answered 503 (as while draining or at maxCalls), so calls in progress keep their media clock and a balancer sends new calls elsewhere. Absent: load alone never refuses.',
      ),
  })
  .prefault({});

/** Media worker threads at most: a node has no more cores than this worth sharing calls over. */
const MAX_MEDIA_WORKERS = 64;

export const mediaSchema = z
  .strictObject({
    workers: z
      .union([z.literal('auto'), z.number().int().min(0).max(MAX_MEDIA_WORKERS)])
      .default('auto')
      .describe(
        "Media worker threads. 'auto' (the default): one per core the process may use (os.availableParallelism()). N: N threads share the calls (each new call goes to the one carrying fewest), each with its own media clock and an equal slice of rtp.portMin..portMax, each owning its calls' RTP sockets, jitter buffers, codecs and bot WebSockets; SIP, the API and admission stay on the main thread, so neither SIP floods nor the main thread's garbage collection reach a call's audio. A thread that dies ends only its own calls (cause media_worker_failed) and is replaced. 0: every call's media runs on the main thread with SIP and the API. Read at start; a reload keeps it.",
      ),
  })
  .prefault({});

/** How many media worker threads `media.workers` asks for on this machine (0: none). */
export function mediaWorkerCount(media: { workers: number | 'auto' }): number {
  return media.workers === 'auto' ? Math.min(availableParallelism(), MAX_MEDIA_WORKERS) : media.workers;
}

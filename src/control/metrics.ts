import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { RTP_TO_WEBSOCKET_BOUNDS } from '../util/index.js';
import { BinnedHistogram } from './binned-histogram.js';

/** The media clock's cumulative counts (MediaClockStats), read on each scrape. */
export interface MediaClockCounts {
  ticks: number;
  lateTicks: number;
  ticksSkipped: number;
  overruns: number;
}

/**
 * How much a count read from its source grew since `seen`. Such counts only grow while their
 * source lives, so a smaller one comes from a new source (a new socket, a restarted endpoint)
 * and all of it is new.
 */
function increaseSince(count: number, seen: number): number {
  return count >= seen ? count - seen : count;
}

/** Requests over 1300 bytes addressed to UDP: moved to TCP, of those back to UDP, and kept on UDP (SipEndpoint). */
interface LargeRequestCounts {
  movedToTcp: number;
  backToUdp: number;
  keptOnUdp: number;
}

/**
 * Every Prometheus metric patchbay exports, on one registry per gateway instance (so
 * tests can run several gateways in one process). The gateway updates them; /metrics
 * serves `registry.metrics()`.
 */
export class GatewayMetrics {
  readonly registry = new Registry();

  readonly activeCalls = new Gauge({
    name: 'patchbay_active_calls',
    help: 'Calls in progress',
    labelNames: ['direction'] as const,
    registers: [this.registry],
  });

  readonly callsTotal = new Counter({
    name: 'patchbay_calls_total',
    help: 'Calls by trunk, direction and outcome: answered ones when answered, the others when they end, by end cause',
    labelNames: ['trunk', 'direction', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly callAttemptsTotal = new Counter({
    name: 'patchbay_call_attempts_total',
    help: "Outbound attempts by trunk, gateway (its name in the trunk's config, else its host[:port] as written; an SRV target's attempts count for its gateway) and final SIP status, or dns_failure",
    labelNames: ['trunk', 'gateway', 'status'] as const,
    registers: [this.registry],
  });

  readonly cpsRejectedTotal = new Counter({
    name: 'patchbay_cps_rejected_total',
    help: 'Calls refused at CPS admission, by the bucket that refused them (per-number buckets by trunk; store: the shared limit store failed)',
    labelNames: ['key'] as const,
    registers: [this.registry],
  });

  readonly cpsTokens = new Gauge({
    name: 'patchbay_cps_tokens',
    help: 'Tokens left in each CPS bucket',
    labelNames: ['key'] as const,
    registers: [this.registry],
  });

  readonly trunkScore = new Gauge({
    name: 'patchbay_trunk_score',
    help: "Health score in [0,1] per configured trunk gateway, the one the router ranks it by: a gateway resolved through SRV has its best target's (each target is scored on its own); 0 while probing marks it down (for an SRV gateway, every target)",
    labelNames: ['trunk', 'gateway'] as const,
    registers: [this.registry],
  });

  readonly trunkMetric = new Gauge({
    name: 'patchbay_trunk_health_input',
    help: "Inputs of the health score (asr, ccr, pdd_ms, ast_ms, acd_s, loss, jitter_ms, rtt_ms, mos) per configured trunk gateway over its health window, once there is a sample: a gateway resolved through SRV has its targets' samples together (mos: their MOS weighted by media samples)",
    labelNames: ['trunk', 'gateway', 'input'] as const,
    registers: [this.registry],
  });

  /** Read at each scrape: each registration trunk, and whether its registrar holds our binding. */
  registeredTrunks: () => Iterable<readonly [trunk: string, bound: boolean]> = () => [];

  readonly trunkRegistered: Gauge<'trunk'> = new Gauge({
    name: 'patchbay_trunk_registered',
    help: 'Registration-based trunks: 1 while their registrar holds our binding (granted and not expired, refreshes included), else 0',
    labelNames: ['trunk'] as const,
    registers: [this.registry],
    collect: () => {
      this.trunkRegistered.reset();
      for (const [trunk, bound] of this.registeredTrunks())
        this.trunkRegistered.set({ trunk }, bound ? 1 : 0);
    },
  });

  readonly registrationsTotal = new Counter({
    name: 'patchbay_registrations_total',
    help: 'Attempts to register a trunk (first, refresh or retry) by result: registered, timeout, transport_error, dns_failure, auth_rejected, interval_too_brief, rejected, bad_response',
    labelNames: ['trunk', 'result'] as const,
    registers: [this.registry],
  });

  readonly jitterBufferDelay = new Histogram({
    name: 'patchbay_jitter_buffer_delay_seconds',
    help: 'Mean jitter-buffer delay of each finished call',
    // Up to the largest configurable jitter-buffer delay (maxDelayMs, at most 1 s).
    buckets: [0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1],
    registers: [this.registry],
  });

  readonly concealedSecondsTotal = new Counter({
    name: 'patchbay_concealed_seconds_total',
    help: "Caller audio made up by packet-loss concealment, in seconds (each call's concealed samples over its decoder's rate), added when the call ends",
    registers: [this.registry],
  });

  readonly fecRecoveredTotal = new Counter({
    name: 'patchbay_fec_recovered_frames_total',
    help: 'Lost Opus frames recovered from in-band FEC',
    registers: [this.registry],
  });

  readonly lateFramesTotal = new Counter({
    name: 'patchbay_late_frames_total',
    help: 'Frames late at their media-clock tick that the leg waited for instead of covering the tick at once: caller_to_bot, caller frames whose RTP packet was late; bot_to_caller, bot frames whose RTP slot was held. outcome arrived: sent as they came, within the frame; missed: concealed, or the slot filled with what was queued, at the next tick (added when the call ends)',
    labelNames: ['direction', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly srtpDroppedTotal = new Counter({
    name: 'patchbay_srtp_dropped_total',
    help: "SRTP and SRTCP packets dropped on carrier legs, by reason (unkeyed: on a leg that requires SRTP, before its keys were known, as an outbound call's early media ahead of the 200 OK; auth: bad authentication tag, replay: replayed or older than the 128-packet window, expired: beyond the key lifetime), added when the call ends",
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly streamQueueDepth = new Gauge({
    name: 'patchbay_stream_queue_frames',
    help: "Bot audio waiting in the calls' playout queues to be played to the caller, in 20 ms frames, summed over calls",
    labelNames: ['direction'] as const,
    registers: [this.registry],
  });

  readonly botSocketPausesTotal = new Counter({
    name: 'patchbay_bot_socket_pauses_total',
    help: 'Times a bot socket stopped being read because the bot used its budget of messages per 20 ms window (added when the call ends)',
    registers: [this.registry],
  });

  readonly botCallerFramesDroppedTotal = new Counter({
    name: 'patchbay_bot_caller_frames_dropped_total',
    help: "Caller audio frames never sent to a bot: dropped while the bot left its socket's buffer over its bound, or still queued when the stream ended (added when the call ends)",
    registers: [this.registry],
  });

  readonly botMessagesIgnoredTotal = new Counter({
    name: 'patchbay_bot_messages_ignored_total',
    help: "Bot messages not acted on: reason invalid (refused by the stream's dialect) or queue_full (dropped unparsed in a flood) (added when the call ends)",
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly botReconnectsTotal = new Counter({
    name: 'patchbay_bot_reconnects_total',
    help: "Bot streams opened again after their socket was lost, by the route's reconnect policy (added when the call ends)",
    registers: [this.registry],
  });

  readonly playoutTrimmedFramesTotal = new Counter({
    name: 'patchbay_playout_trimmed_frames_total',
    help: 'Silent 20 ms frames of bot audio dropped from playout queues to remove standing delay behind a bot streaming in real time, as after an event-loop stall (added when the call ends)',
    registers: [this.registry],
  });

  readonly playoutCompressedSecondsTotal = new Counter({
    name: 'patchbay_playout_compressed_seconds_total',
    help: 'Seconds of bot audio with no pause to trim removed as whole pitch periods (played faster, pitch kept) to remove standing delay behind a bot streaming in real time (added when the call ends)',
    registers: [this.registry],
  });

  /** Observed per frame on the main thread, added per report from media workers (binned there). */
  readonly rtpToWebSocketLatency = new BinnedHistogram({
    name: 'patchbay_rtp_to_websocket_seconds',
    help: 'Time from an RTP packet arriving to its audio being written to the bot socket',
    bounds: RTP_TO_WEBSOCKET_BOUNDS,
    registers: [this.registry],
  });

  readonly sipShedTotal = new Counter({
    name: 'patchbay_sip_shed_total',
    help: 'SIP messages refused unserved, by reason (rate_limited, oversize, malformed, unknown_source, queue_full, overload, memory)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly sipTcpClosedTotal = new Counter({
    name: 'patchbay_sip_tcp_closed_total',
    help: 'SIP TCP connections (plain or TLS, the transport label) the gateway closed, by reason (idle, header_timeout, per_source_limit, total_limit, rejected_source, framing_error, keepalive_timeout, send_backlog)',
    labelNames: ['reason', 'transport'] as const,
    registers: [this.registry],
  });

  readonly sipLargeRequestsTotal = new Counter({
    name: 'patchbay_sip_large_requests_total',
    help: 'Requests of ours over 1300 bytes addressed to UDP (RFC 3261 §18.1.1), by path: tcp, each moved to TCP to the same address and port; udp_fallback, those of them sent over UDP after all, their TCP connection having failed or not come up within 4*T1 before any response (a carrier that takes no TCP); udp_no_tcp, those kept on UDP, their destination having taken no TCP in the last 10 minutes',
    labelNames: ['path'] as const,
    registers: [this.registry],
    collect: () => this.#collectLargeRequests(),
  });

  readonly apiConnectionsRefusedTotal = new Counter({
    name: 'patchbay_api_connections_refused_total',
    help: 'Connections to the control API closed at accept because api.maxConnections were open',
    registers: [this.registry],
  });

  readonly sipTlsHandshakeFailuresTotal = new Counter({
    name: 'patchbay_sip_tls_handshake_failures_total',
    help: 'SIP TLS handshakes that failed, by direction (inbound, outbound) and reason (timeout, certificate, name_mismatch, protocol, closed)',
    labelNames: ['direction', 'reason'] as const,
    registers: [this.registry],
  });

  readonly sipSocketDropsTotal = new Counter({
    name: 'patchbay_sip_socket_drops_total',
    help: 'Datagrams the kernel dropped on the SIP UDP socket (receive buffer full), read from /proc on scrape',
    registers: [this.registry],
    collect: () => this.#collectSocketDrops(),
  });

  readonly rtpSocketDropsTotal: Counter = new Counter({
    name: 'patchbay_rtp_socket_drops_total',
    help: "Datagrams the kernel dropped on RTP/RTCP sockets of live calls because the receive buffer was full, sampled at each scrape (with media.workers, by each worker every 500 ms), from /proc/net/udp, read only when the host's UDP InErrors moved since the last read",
    registers: [this.registry],
    collect: () => this.rtpSocketDropsTotal.inc(this.#sampleRtpSocketDrops()),
  });

  readonly mediaClockTicksTotal: Counter<'outcome'> = new Counter({
    name: 'patchbay_media_clock_ticks_total',
    help: "20 ms ticks of the media clock every call's audio runs on, by outcome: on_time (less than a frame after its deadline), late (a frame or more after it: run to catch up after the event loop stalled, so every call's frames went out late but none was lost), skipped (never run because the loop fell more than 1 s behind: every call lost that frame); read from the clock on each scrape (with media.workers, every worker's clock summed as of its last report)",
    labelNames: ['outcome'] as const,
    registers: [this.registry],
    collect: () => this.#collectMediaClockTicks(),
  });

  readonly mediaClockOverrunsTotal: Counter = new Counter({
    name: 'patchbay_media_clock_overruns_total',
    help: "Media-clock timer firings whose ticks took longer than a frame (20 ms) to run, so the next tick started late; read from the clock on each scrape (with media.workers, every worker's clock summed as of its last report)",
    registers: [this.registry],
    collect: () => this.#collectMediaClockOverruns(),
  });

  readonly takeoversTotal = new Counter({
    name: 'patchbay_takeovers_total',
    help: 'Calls this node claimed from a dead node (cluster.takeover), by outcome: resumed (the carrier took the re-INVITE and media runs here; its bot may still fail, which ends the call with its own cause), ended (the call ended before its re-INVITE was answered: a BYE held through the gap, no room on this node, or its bot unreachable first), refused (the carrier refused the re-INVITE; the call ends with a record), unusable (the claimed snapshot could not be resumed; logged)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly takeoverGap = new Histogram({
    name: 'patchbay_takeover_gap_seconds',
    help: "Resumed calls: from the dead node's last RTP position written to Redis to the carrier's answer to this node's re-INVITE (the caller's gap at most, the record's takeover.gapMs)",
    buckets: [0.5, 1, 1.5, 2, 3, 5, 10],
    registers: [this.registry],
  });

  readonly overloaded: Gauge<'signal'> = new Gauge({
    name: 'patchbay_overloaded',
    help: 'By signal (event_loop_delay, media_clock, event_loop_utilization: the busiest loop, main thread or media worker): 1 while its limits.overload threshold was crossed over the last window, so new INVITEs get 503 and OPTIONS 503; else 0 (always 0 without a threshold)',
    labelNames: ['signal'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [signal, overloaded] of this.#overloadSignals())
        this.overloaded.set({ signal }, overloaded ? 1 : 0);
    },
  });

  /** Registered only with a reading of the loop's delay (the gateway's NodeLoad). */
  readonly eventLoopLag: Gauge | undefined;

  /** Registered only with media workers: in one thread, neither would measure anything. */
  readonly mediaWorkerCalls: Gauge<'worker'> | undefined;
  readonly mediaWorkerBusy: Counter<'worker'> | undefined;
  readonly mediaWorkerHeapUsed: Gauge<'worker'> | undefined;
  readonly mediaWorkerHeapCommitted: Gauge<'worker'> | undefined;
  readonly mediaWorkerExternal: Gauge<'worker'> | undefined;

  /** Registered only on a clustered node: alone, none of them would measure anything. */
  readonly clusterRedisUp: Gauge | undefined;
  readonly clusterNodes: Gauge | undefined;
  readonly clusterRedisErrorsTotal: Counter<'kind'> | undefined;

  readonly #readSocketDrops: (() => Promise<number | undefined>) | undefined;
  readonly #largeRequests: () => LargeRequestCounts | undefined;
  #largeRequestsSeen: LargeRequestCounts = { movedToTcp: 0, backToUdp: 0, keptOnUdp: 0 };
  readonly #sampleRtpSocketDrops: () => number;
  readonly #mediaClockStats: (() => MediaClockCounts) | undefined;
  readonly #overloadSignals: () => ReadonlyArray<readonly [signal: string, overloaded: boolean]>;
  /** The clock's counts at the previous scrape: counters grow by the difference. */
  readonly #mediaClockSeen: MediaClockCounts = { ticks: 0, lateTicks: 0, ticksSkipped: 0, overruns: 0 };
  #socketDropsSeen = 0;

  /**
   * `sipSocketDrops` reads the kernel's drop count of the SIP UDP socket (the transport's
   * `udpSocketDrops`), asked on each scrape. `sampleRtpSocketDrops` returns the kernel drops on
   * RTP sockets since its previous call (RtpSession.sampleSocketDrops summed over the live
   * sessions, with one readUdpDrops table); it runs once per scrape. `mediaClockStats` returns
   * the shared media clock's cumulative counts (MediaClock.stats); `overloadSignals` each
   * overload signal (a fixed list, NodeLoad's) and whether it is over its threshold;
   * `eventLoopDelayP99Ms` the main thread's p99 event-loop delay of NodeLoad's last complete
   * window (read, never reset, by a scrape: every scraper sees the same figure).
   */
  constructor(
    options: {
      processMetrics?: boolean;
      sipSocketDrops?: () => Promise<number | undefined>;
      /**
       * The SIP endpoint's large requests since start (SipEndpoint.largeRequests; only growing);
       * undefined while there is no endpoint.
       */
      sipLargeRequests?: () => LargeRequestCounts | undefined;
      sampleRtpSocketDrops?: () => number;
      /** `redisErrors`: failed scripts since start by kind, a fixed set of keys (RedisLink's). */
      cluster?: {
        readonly redisUp: boolean;
        readonly liveNodes: number;
        readonly redisErrors: Readonly<Record<string, number>>;
      };
      /**
       * Per media worker (when the node has them): its calls, its threads' busy seconds so far
       * (only growing), and its thread's heap as of its last report.
       */
      mediaWorkerLoad?: () => ReadonlyArray<{
        calls: number;
        busySeconds: number;
        heap: { usedBytes: number; externalBytes: number; committedBytes: number };
      }>;
      mediaClockStats?: () => MediaClockCounts;
      overloadSignals?: () => ReadonlyArray<readonly [signal: string, overloaded: boolean]>;
      eventLoopDelayP99Ms?: () => number;
    } = {},
  ) {
    this.#readSocketDrops = options.sipSocketDrops;
    this.#largeRequests = options.sipLargeRequests ?? (() => undefined);
    this.#sampleRtpSocketDrops = options.sampleRtpSocketDrops ?? (() => 0);
    this.#mediaClockStats = options.mediaClockStats;
    this.#overloadSignals = options.overloadSignals ?? (() => []);
    if (options.processMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, prefix: 'patchbay_' });
    const loopDelayMs = options.eventLoopDelayP99Ms;
    if (loopDelayMs)
      this.eventLoopLag = new Gauge({
        name: 'patchbay_event_loop_lag_seconds',
        help: "The main thread's event-loop delay p99 over the last complete overload window (limits.overload.windowSec, 5 s by default, thresholds or not): how late the loop ran a 10 ms timer, the figure limits.overload.eventLoopDelayP99Ms is held against. The window closes on the clock, not on a scrape, so every scraper reads the same; 0 on an idle loop and before the first window closes",
        registers: [this.registry],
        collect: () => this.eventLoopLag?.set(loopDelayMs() / 1000),
      });
    const workerLoad = options.mediaWorkerLoad;
    if (workerLoad) {
      // One read per scrape sets them all.
      const busySecondsSeen: number[] = [];
      const collect = (): void => {
        for (const [index, { calls, busySeconds, heap }] of workerLoad().entries()) {
          const worker = { worker: String(index) };
          this.mediaWorkerCalls?.set(worker, calls);
          this.mediaWorkerBusy?.inc(worker, Math.max(0, busySeconds - (busySecondsSeen[index] ?? 0)));
          busySecondsSeen[index] = Math.max(busySeconds, busySecondsSeen[index] ?? 0);
          this.mediaWorkerHeapUsed?.set(worker, heap.usedBytes);
          this.mediaWorkerExternal?.set(worker, heap.externalBytes);
          this.mediaWorkerHeapCommitted?.set(worker, heap.committedBytes);
        }
      };
      const perWorker = (name: string, help: string, onScrape?: () => void): Gauge<'worker'> =>
        new Gauge({
          name,
          help,
          labelNames: ['worker'] as const,
          registers: [this.registry],
          ...(onScrape ? { collect: onScrape } : {}),
        });
      const reported = "as of the worker's last report (every 500 ms); 0 while a dead worker is replaced";
      this.mediaWorkerCalls = perWorker(
        'patchbay_media_worker_calls',
        'Calls whose media the media worker thread (by slot, 0 to media.workers - 1) carries now',
        collect,
      );
      // A counter, not a share since the previous scrape: two scrapers would halve each other's window.
      this.mediaWorkerBusy = new Counter({
        name: 'patchbay_media_worker_busy_seconds_total',
        help: "Seconds the media worker threads of a slot had their event loop busy (event-loop utilization's active time; rate() is the busy share). It counts the media clock's precise wait before each tick (up to rtp.pacingLeadMs + 1 ms of every 20 ms) as busy, so it is an upper bound of the thread's CPU; a replaced worker's time counts on",
        labelNames: ['worker'] as const,
        registers: [this.registry],
      });
      // patchbay_nodejs_heap_* (the default metrics) is the main thread's isolate only.
      this.mediaWorkerHeapUsed = perWorker(
        'patchbay_media_worker_heap_used_bytes',
        `The media worker thread's own V8 heap in use (its isolate's used_heap_size: the calls' media, jitter buffers, codecs and bot sockets live there; patchbay_nodejs_heap_size_used_bytes is the main thread's alone), ${reported}`,
      );
      this.mediaWorkerHeapCommitted = perWorker(
        'patchbay_media_worker_heap_committed_bytes',
        `The media worker thread's V8 heap as committed (its isolate's total_heap_size: the pages V8 holds from the OS, in use or garbage or free, which is what the process's RSS sees of it), ${reported}`,
      );
      this.mediaWorkerExternal = perWorker(
        'patchbay_media_worker_external_memory_bytes',
        `Memory outside the media worker thread's V8 heap held by its objects (its isolate's external_memory: ArrayBuffer and Buffer backing stores), ${reported}`,
      );
    }
    const cluster = options.cluster;
    if (cluster) {
      this.clusterRedisUp = new Gauge({
        name: 'patchbay_cluster_redis_up',
        help: "1 while this node's cluster Redis answers, 0 while it decides on local state",
        registers: [this.registry],
        collect: () => this.clusterRedisUp?.set(cluster.redisUp ? 1 : 0),
      });
      this.clusterNodes = new Gauge({
        name: 'patchbay_cluster_nodes',
        help: 'Live cluster nodes at the last heartbeat that reached Redis (N of the local rate/N fallback)',
        registers: [this.registry],
        collect: () => this.clusterNodes?.set(cluster.liveNodes),
      });
      const seen = { ...cluster.redisErrors };
      const errors = new Counter({
        name: 'patchbay_cluster_redis_errors_total',
        help: 'Cluster Redis scripts that failed, by kind: disconnected (not sent, or the connection went while in flight), timeout (no answer within the command deadline), script_error (an error reply: WRONGTYPE, OOM, READONLY, BUSY...). Each time the node went on without Redis for that step (local limits, no peer health, 503 to a cluster call lookup)',
        labelNames: ['kind'] as const,
        registers: [this.registry],
        collect: () => {
          for (const [kind, count] of Object.entries(cluster.redisErrors)) {
            errors.inc({ kind }, count - (seen[kind] ?? 0));
            seen[kind] = count;
          }
        },
      });
      for (const kind of Object.keys(seen)) errors.inc({ kind }, 0);
      this.clusterRedisErrorsTotal = errors;
    }
  }

  /** The kernel's count only grows while the socket lives; a smaller one means a new socket. */
  async #collectSocketDrops(): Promise<void> {
    const drops = await this.#readSocketDrops?.();
    if (drops === undefined) return;
    const increase = increaseSince(drops, this.#socketDropsSeen);
    this.#socketDropsSeen = drops;
    if (increase > 0) this.sipSocketDropsTotal.inc(increase);
  }

  #collectLargeRequests(): void {
    const counts = this.#largeRequests();
    if (!counts) return;
    const seen = this.#largeRequestsSeen;
    this.sipLargeRequestsTotal.inc({ path: 'tcp' }, increaseSince(counts.movedToTcp, seen.movedToTcp));
    this.sipLargeRequestsTotal.inc({ path: 'udp_fallback' }, increaseSince(counts.backToUdp, seen.backToUdp));
    this.sipLargeRequestsTotal.inc({ path: 'udp_no_tcp' }, increaseSince(counts.keptOnUdp, seen.keptOnUdp));
    this.#largeRequestsSeen = { ...counts };
  }

  #collectMediaClockTicks(): void {
    const counts = this.#mediaClockStats?.();
    if (!counts) return;
    const seen = this.#mediaClockSeen;
    const onTime = counts.ticks - counts.lateTicks - (seen.ticks - seen.lateTicks);
    this.mediaClockTicksTotal.inc({ outcome: 'on_time' }, onTime);
    this.mediaClockTicksTotal.inc({ outcome: 'late' }, counts.lateTicks - seen.lateTicks);
    this.mediaClockTicksTotal.inc({ outcome: 'skipped' }, counts.ticksSkipped - seen.ticksSkipped);
    seen.ticks = counts.ticks;
    seen.lateTicks = counts.lateTicks;
    seen.ticksSkipped = counts.ticksSkipped;
  }

  #collectMediaClockOverruns(): void {
    const counts = this.#mediaClockStats?.();
    if (!counts) return;
    this.mediaClockOverrunsTotal.inc(counts.overruns - this.#mediaClockSeen.overruns);
    this.#mediaClockSeen.overruns = counts.overruns;
  }
}

/**
 * `patchbay start`: binds SIP and the control API, builds the ports every call is made from,
 * keeps the registry of calls in progress, and implements drain, reload and stop. A call's
 * own life is its CallController's; metrics, records, health and callbacks subscribe to it.
 */
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { Cluster, defaultApiUrl, defaultNodeId, NodeLoad, OVERLOAD_SIGNALS } from '../cluster/index.js';
import {
  type ConfigManager,
  mediaWorkerCount,
  type PatchbayConfig,
  requiresClientCert,
} from '../config/index.js';
import { createControlServer, GatewayMetrics, type TrunkRegistration } from '../control/index.js';
import {
  MEDIA_FRAME_MS,
  type MediaClock,
  NO_TICKS,
  UdpDropSampler,
  type UdpDropTable,
} from '../media/index.js';
import { type InboundSession, SipTransport, SipUserAgent } from '../sip/index.js';
import { RateLimitedWarning } from '../stream/index.js';
import {
  ConcurrencyLimiter,
  CpsLimiter,
  HealthRegistry,
  InboundMatcher,
  type InboundMatcherOptions,
  MemoryCpsStore,
  nodeDnsClient,
  OptionsProber,
  OutboundRouter,
  ServerLocator,
} from '../trunks/index.js';
import { type Clock, type Logger, SystemClock } from '../util/index.js';
import { GatewayAdmission } from './admission.js';
import { BuiltinBot } from './builtin-bot.js';
import { CallController } from './call-controller.js';
import { observeCall, observeTakeover, type RefusedCall } from './call-observers.js';
import { buildCallPorts, type CallMedia, threadCallMedia } from './call-ports.js';
import { CallRecordWriter } from './call-records.js';
import { CallRegistry } from './call-registry.js';
import { CallTakeover } from './call-takeover.js';
import { apiLimits, GatewayControl } from './control-adapter.js';
import { DigestSupport } from './digest-support.js';
import { SourceRateLimiter } from './flood.js';
import { scheduleGauges } from './gauges.js';
import { admitsRequest } from './inbound-screen.js';
import { advertisableAddress } from './media-address.js';
import type { CallPorts, OutboundRequest } from './ports.js';
import { sendOptionsProbe } from './probe.js';
import { TrunkRegistrations } from './registrations.js';
import { startOnlyChanges } from './reload-scope.js';
import { listenSpecs, reloadTlsCredentials, tlsClientPolicy } from './sip-tls.js';
import { observeTransport, transportLimits } from './sip-transport.js';
import { type MediaWorkers, startMediaWorkers } from './worker/media-workers.js';

export interface GatewayOptions {
  config: ConfigManager;
  logger: Logger;
  clock?: Clock;
}

const PRODUCT = 'patchbay/0.1';
const NO_UDP_DROPS: UdpDropTable = new Map();

export class Gateway {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly calls = new CallRegistry();
  /** This node's membership of a cluster (`cluster` in the config); undefined alone. */
  readonly cluster: Cluster | undefined;
  readonly cps: CpsLimiter;
  readonly health: HealthRegistry;
  readonly #config: ConfigManager;
  readonly #admission: GatewayAdmission;
  readonly #prober: OptionsProber;
  readonly #locator: ServerLocator;
  readonly #digest: DigestSupport;
  readonly #refusals: RateLimitedWarning<RefusedCall>;
  /** Kernel drops on the calls' RTP sockets, when their media runs on this thread. */
  readonly #udpDrops = new UdpDropSampler();
  readonly #builtinBot: BuiltinBot;
  #flood: SourceRateLimiter | undefined;
  readonly #router: OutboundRouter;
  #inbound: InboundMatcher;
  /** What inbound matching takes from outside the config: mutual TLS as started, registrars' addresses. */
  readonly #inboundOptions: InboundMatcherOptions;
  #transport: SipTransport | undefined;
  #ua: SipUserAgent | undefined;
  #registrations: TrunkRegistrations | undefined;
  #ports: CallPorts | undefined;
  #records: CallRecordWriter | undefined;
  #api: FastifyInstance | undefined;
  #gauges: { cancel(): void } | undefined;
  readonly #nodeLoad: NodeLoad;
  #takeover: CallTakeover | undefined;
  /** `media.workers` > 0: the threads carrying the calls' media (else this thread's media clock does). */
  #mediaWorkers: MediaWorkers | undefined;
  /** `media.workers` 0: the clock this thread runs the calls' media on. */
  #mediaClock: MediaClock | undefined;

  private constructor(options: GatewayOptions) {
    this.#config = options.config;
    this.clock = options.clock ?? new SystemClock();
    this.logger = options.logger;
    this.#builtinBot = new BuiltinBot(this.logger);
    // DNS settings are read at start; a reload keeps them.
    const dns = options.config.current.gateway.dns;
    this.#locator = new ServerLocator({
      dns: nodeDnsClient(dns),
      clock: this.clock,
      logger: this.logger,
      config: dns.cache,
    });
    this.#prober = new OptionsProber(this.clock, (target) =>
      sendOptionsProbe(this.#userAgent, this.#locator, target),
    );
    this.health = new HealthRegistry(this.clock, this.#locator, this.#prober);
    this.cluster = this.#joinCluster();
    this.metrics = new GatewayMetrics({
      sipSocketDrops: () => this.#transport?.udpSocketDrops() ?? Promise.resolve(undefined),
      sipLargeRequests: () => this.#ua?.endpoint.largeRequests,
      sampleRtpSocketDrops: () => {
        const live = this.calls.live();
        if (live.length === 0) return 0;
        // Media workers sample their own calls' sockets (the legs here ignore the table).
        const table = this.#mediaWorkers ? NO_UDP_DROPS : (this.#udpDrops.sample() ?? NO_UDP_DROPS);
        return live.reduce((drops, call) => drops + call.sampleSocketDrops(table), 0);
      },
      mediaClockStats: () => this.#mediaClockStats(),
      overloadSignals: () =>
        OVERLOAD_SIGNALS.map((signal) => [signal, this.#nodeLoad.overloadedBy(signal)] as const),
      eventLoopDelayP99Ms: () => this.#nodeLoad.eventLoopDelayP99Ms,
      ...(this.cluster ? { cluster: this.cluster } : {}),
      ...(mediaWorkerCount(options.config.current.gateway.media) > 0
        ? { mediaWorkerLoad: () => this.#mediaWorkers?.load() ?? [] }
        : {}),
    });
    this.cps = new CpsLimiter(this.cluster?.cps ?? new MemoryCpsStore(), this.clock);
    this.#admission = new GatewayAdmission({
      concurrency: new ConcurrencyLimiter(),
      leases: this.cluster?.leases,
      cps: this.cps,
      liveCalls: () => this.calls.size,
      maxCalls: () => this.config().gateway.limits.maxCalls,
      overloadRetryAfterSec: () => this.#overloadRetryAfterSec(),
    });
    this.#nodeLoad = new NodeLoad({
      clock: this.clock,
      activeCalls: () => this.calls.size,
      maxCalls: () => this.config().gateway.limits.maxCalls,
      draining: () => this.#admission.draining,
      overload: () => this.config().gateway.limits.overload,
      mediaClockTicks: () => this.#mediaClockStats(),
      threadUtilizations: () => this.#mediaWorkers?.threadUtilizations() ?? [],
    });
    this.#inboundOptions = {
      requireClientCert: requiresClientCert(options.config.current.gateway),
      registrarAddresses: (trunk) => this.#registrations?.registrarAddresses(trunk) ?? [],
    };
    this.#inbound = new InboundMatcher(options.config.current, this.#inboundOptions);
    this.#router = new OutboundRouter(this.health, this.#locator, this.clock);
    this.#digest = new DigestSupport(this.clock);
    this.#refusals = new RateLimitedWarning(this.logger, this.clock, 'calls refused');
  }

  static async start(options: GatewayOptions): Promise<Gateway> {
    const gateway = new Gateway(options);
    try {
      await gateway.#start();
    } catch (error) {
      await gateway.stop();
      throw error;
    }
    return gateway;
  }

  config(): PatchbayConfig {
    return this.#config.current;
  }

  /** Bound SIP and API addresses (ports resolved when configured as 0). */
  addresses(): { sip: Array<{ transport: string; address: string; port: number }>; api: string | undefined } {
    const sip = (['udp', 'tcp', 'tls'] as const).flatMap((kind) => {
      const local = this.#transport?.local(kind);
      return local ? [local] : [];
    });
    const api = this.#api?.server.address();
    return { sip, api: api && typeof api === 'object' ? `http://${api.address}:${api.port}` : undefined };
  }

  /** The media worker threads (`media.workers` > 0), else undefined. */
  get mediaWorkers(): MediaWorkers | undefined {
    return this.#mediaWorkers;
  }

  get draining(): boolean {
    return this.#admission.draining;
  }

  get activeCalls(): number {
    return this.calls.size;
  }

  isReady(): boolean {
    return !this.#admission.draining && this.#transport !== undefined;
  }

  /** Places an outbound call; throws OutboundRefusal when it cannot be admitted. */
  async originate(request: OutboundRequest, statusCallback?: string): Promise<CallController> {
    const { call, run } = CallController.outbound(this.#callPorts, request);
    this.#observe(call, statusCallback);
    await run();
    return call;
  }

  /** Registration-based trunks and their state. */
  registrations(): TrunkRegistration[] {
    return this.#registrations?.list() ?? [];
  }

  /** New INVITEs and OPTIONS get 503 from now on; calls go on; registrars stop sending calls here. */
  drain(): void {
    this.#admission.drain();
    void this.#registrations?.stop();
  }

  /**
   * SIGTERM: refuse new calls (503, OPTIONS too), let calls in progress finish up to `timeoutMs`,
   * then end the rest. Resolves when no call is left (`stop()` then leaves the cluster).
   */
  async drainAndWait(timeoutMs: number): Promise<void> {
    this.drain();
    if (this.calls.size === 0) return;
    const timer = this.clock.setTimer(timeoutMs, () => {
      for (const call of this.calls.live()) call.hangup('drain_timeout');
    });
    await this.#callsEnded();
    timer.cancel();
  }

  /**
   * Once every call has ended with its record: at once for media on this thread; with media
   * workers, once each worker's figures at the close are in (bounded: remote-leg.ts).
   */
  #callsEnded(): Promise<void> {
    return new Promise((resolve) => this.calls.whenEmpty(resolve));
  }

  async stop(): Promise<void> {
    this.drain(); // a call let in while the others are hung up would hold stop() up for its length
    this.#gauges?.cancel();
    await this.#takeover?.close();
    for (const call of this.calls.live()) call.hangup('shutdown');
    await this.cluster?.leave();
    this.#mediaClock?.stop();
    await this.#mediaWorkers?.stop();
    await this.#callsEnded();
    this.#prober.stop();
    this.health.close();
    this.#locator.close();
    this.cps.close();
    await this.#registrations?.stop();
    this.#registrations?.close();
    this.#ua?.close();
    await this.#transport?.close();
    await this.#api?.close();
    await this.#builtinBot.close();
    await this.#records?.close();
    this.cluster?.close();
    this.#nodeLoad.close();
  }

  // ------------------------------------------------------------------ internals

  /** The media clock's counts: this thread's, or every media worker's summed. */
  #mediaClockStats() {
    return this.#mediaWorkers?.clockStats() ?? this.#mediaClock?.stats() ?? NO_TICKS;
  }

  /** The Retry-After of admission's 503 while overloaded (`limits.overload`), else undefined. */
  #overloadRetryAfterSec(): number | undefined {
    return this.#nodeLoad.overloaded ? this.config().gateway.limits.overload?.retryAfterSec : undefined;
  }

  /** The cluster this node joins when the config has a `cluster` section. */
  #joinCluster(): Cluster | undefined {
    const { cluster, listen, api } = this.config().gateway;
    if (!cluster) return undefined;
    return new Cluster({
      config: cluster,
      nodeId: cluster.nodeId ?? defaultNodeId(hostname(), listen[0]?.port ?? 5060),
      apiUrl: cluster.apiUrl ?? defaultApiUrl(api),
      apiToken: api.bearerToken,
      clock: this.clock,
      logger: this.logger,
      health: this.health,
      load: () => ({
        calls: this.calls.size,
        maxCalls: this.config().gateway.limits.maxCalls,
        draining: this.#admission.draining,
      }),
    });
  }

  get #userAgent(): SipUserAgent {
    if (!this.#ua) throw new Error('gateway not started');
    return this.#ua;
  }

  get #callPorts(): CallPorts {
    if (!this.#ports) throw new Error('gateway not started');
    return this.#ports;
  }

  async #start(): Promise<void> {
    const config = this.config().gateway;
    const flood = new SourceRateLimiter(this.clock, config.limits.requestsPerSourcePerSec);
    this.#flood = flood;
    const listen = listenSpecs(this.config());
    const sip = config.sip;
    const { handshakeTimeoutMs, ...limits } = transportLimits(sip);
    this.#transport = new SipTransport({
      listen,
      logger: this.logger,
      clock: this.clock,
      ...limits,
      tls: { handshakeTimeoutMs, clientPolicy: (destination) => tlsClientPolicy(this.config(), destination) },
      // Before parsing: the per-source rate (ACKs and retransmissions of live transactions
      // bypass it in the transport, so a flooder's ACKs still stop its 503 retransmissions).
      allowSource: (source) => flood.allow(source.address),
      allowConnection: (source) => this.#inbound.admitsSource(source.address, source.transport),
      // A dead node's calls come here unknown until taken over: their requests all pass.
      allowRequest: (source, request) =>
        admitsRequest(this.#inbound, source, request, (r) => !!this.#takeover || !!this.#ua?.knowsDialog(r)),
    });
    observeTransport(this.#transport, this.metrics, this.logger);
    await this.#transport.start();
    const bindAddress = listen[0]?.address ?? '0.0.0.0';
    const mediaAddress = config.publicAddress ?? advertisableAddress(bindAddress);
    this.#ua = new SipUserAgent({
      transport: this.#transport,
      clock: this.clock,
      logger: this.logger,
      ...(config.publicAddress ? { advertisedHost: config.publicAddress } : {}),
      product: PRODUCT,
      admissionStatus: () => (this.#admission.draining ? 503 : undefined),
      optionsStatus: () => this.#nodeLoad.optionsStatus(),
      optionsHeaders: () => this.#nodeLoad.headers(),
      transactionMemory: sip.transactionMemory,
      onInvite: (session) => this.#onInvite(session),
      onUnknownDialog: (held) => this.#takeover?.hold(held) ?? false,
    });
    this.#ua.endpoint.transactions.on('shed', (reason) => this.metrics.sipShedTotal.inc({ reason }));
    this.#registrations = new TrunkRegistrations({
      link: this.#ua,
      clock: this.clock,
      logger: this.logger,
      metrics: this.metrics,
      userAgent: PRODUCT,
      locator: this.#locator,
      flows: this.#transport,
    });
    this.#mediaWorkers = startMediaWorkers(config, {
      bindAddress,
      clock: this.clock,
      logger: this.logger,
      builtinBotUrl: () => this.#builtinBot.url,
      addLatencies: (binned) => this.metrics.rtpToWebSocketLatency.add(binned),
    });
    const media: CallMedia = this.#mediaWorkers
      ? { workers: this.#mediaWorkers }
      : threadCallMedia(this.clock, this.logger, config.rtp);
    this.#mediaClock = media.workers ? undefined : media.mediaClock;
    this.#ports = buildCallPorts({
      clock: this.clock,
      logger: this.logger,
      metrics: this.metrics,
      config: () => this.config(),
      userAgent: this.#ua,
      media,
      bindAddress,
      mediaAddress,
      builtinBotUrl: () => this.#builtinBot.url,
      admission: this.#admission,
      inbound: () => this.#inbound,
      digest: this.#digest,
      router: this.#router,
      health: this.health,
    });
    this.#mediaClock?.start();
    this.health.apply(this.config());
    await this.#builtinBot.ensure(this.config());
    if (config.callRecords.enabled) this.#records = CallRecordWriter.open(config.callRecords.path);
    this.#api = await createControlServer({
      backend: new GatewayControl(this),
      metrics: this.metrics,
      ...(config.api.bearerToken ? { token: config.api.bearerToken } : {}),
      logger: this.logger,
      limits: apiLimits(config.api),
    });
    await this.#api.listen({ host: config.api.host, port: config.api.port });
    this.#registrations.apply(this.config());
    this.#config.on('changed', (next, previous) => this.#applyConfig(next, previous));
    this.#config.on('invalid', (error) => this.logger.error({ err: error.message }, 'config reload refused'));
    this.#gauges = scheduleGauges({
      clock: this.clock,
      logger: this.logger,
      metrics: this.metrics,
      calls: this.calls,
      health: this.health,
      cps: this.cps,
    });
    this.cluster?.start();
    this.#takeover = this.#startTakeover(mediaAddress);
  }

  /** Call takeover (`cluster.takeover.enabled`): snapshots out, dead nodes' calls in. */
  #startTakeover(mediaAddress: string): CallTakeover | undefined {
    const snapshots = this.cluster?.snapshots;
    const config = this.config().gateway.cluster?.takeover;
    if (!snapshots || !config || !this.cluster) return undefined;
    const takeover = new CallTakeover({
      snapshots,
      config,
      nodeId: snapshots.nodeId,
      clock: this.clock,
      logger: this.logger,
      resumeContext: () => ({
        ua: this.#userAgent,
        clock: this.clock,
        config: this.config(),
        mediaAddress,
        frameMs: MEDIA_FRAME_MS,
        nodeId: snapshots.nodeId,
      }),
      liveCalls: () => this.calls.live(),
      room: () => this.config().gateway.limits.maxCalls - this.calls.size,
      draining: () => this.#admission.draining,
      overloaded: () => this.#overloadRetryAfterSec() !== undefined,
      adopt: (resumed) => {
        const { call, run } = CallController.resumed(this.#callPorts, resumed);
        this.#observe(call);
        observeTakeover(call, this.metrics);
        this.#run(call, run);
        return call;
      },
      unusable: () => this.metrics.takeoversTotal.inc({ outcome: 'unusable' }),
    });
    takeover.start();
    return takeover;
  }

  #onInvite(session: InboundSession): void {
    const { call, run } = CallController.inbound(this.#callPorts, session);
    this.#observe(call);
    this.#run(call, run);
  }

  /** A call's flow ends its call on anything it throws; what might still escape is logged. */
  #run(call: CallController, run: () => Promise<void>): void {
    run().catch((error: unknown) => this.logger.error({ err: error, callId: call.id }, 'call flow failed'));
  }

  /** Registry, metrics, records and health follow the call through its events. */
  #observe(call: CallController, statusCallback?: string): void {
    call.once('admitted', () => this.calls.add(call));
    call.once('answered', () => this.#takeover?.answered());
    observeCall(call, {
      metrics: this.metrics,
      health: this.health,
      records: this.#records,
      logger: this.logger,
      refusals: this.#refusals,
      ...(statusCallback ? { statusCallback } : {}),
    });
    call.once('ended', () => this.calls.remove(call));
  }

  /** Reload: new calls see the new snapshot; calls in progress keep theirs. */
  #applyConfig(next: PatchbayConfig, previous: PatchbayConfig): void {
    this.#inbound = new InboundMatcher(next, this.#inboundOptions);
    this.health.apply(next);
    reloadTlsCredentials(this.#transport, next, previous, this.logger);
    this.#registrations?.apply(next);
    this.#flood?.setRate(next.gateway.limits.requestsPerSourcePerSec);
    this.#builtinBot
      .ensure(next)
      .catch((error: unknown) => this.logger.error({ err: error }, 'the built-in bot did not start'));
    this.logger.info({ files: next.files }, 'config reloaded');
    const kept = startOnlyChanges(previous.gateway, next.gateway);
    if (kept.length > 0)
      this.logger.warn({ settings: kept }, 'changed settings that apply at start are kept until a restart');
  }
}

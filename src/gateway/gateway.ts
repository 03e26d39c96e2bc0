/**
 * `patchbay start`: wires the SIP user agent, media clock, trunks, bot streams and the
 * control API into one process, owns every live call, and implements drain and reload.
 * Call flows live in inbound.ts / outbound.ts; this file is lifecycle and bookkeeping.
 */
import { networkInterfaces } from 'node:os';
import type { FastifyInstance } from 'fastify';
import {
  BUILTIN_TARGET_PREFIX,
  type ConfigManager,
  type PatchbayConfig,
  type TrunkConfig,
} from '../config/index.js';
import type {
  CallDetail,
  CallOperationResult,
  CallSummary,
  ControlBackend,
  CpsLimit,
  DrainStatus,
  OriginateRequest,
} from '../control/backend.js';
import { GatewayMetrics } from '../control/metrics.js';
import { createControlServer } from '../control/server.js';
import { EchoBot } from '../demo/index.js';
import { MediaClock } from '../media/media-clock.js';
import { PortAllocator } from '../media/rtp/index.js';
import {
  type Authorizer,
  type InboundSession,
  type SipRequest,
  SipTransport,
  SipUserAgent,
} from '../sip/index.js';
import {
  ConcurrencyLimiter,
  CpsLimiter,
  HealthRegistry,
  InboundMatcher,
  MemoryCpsStore,
  OptionsProber,
  OutboundRouter,
} from '../trunks/index.js';
import { type Clock, type Logger, SystemClock, type TimerHandle } from '../util/index.js';
import type { Call } from './call.js';
import { CallRecordWriter } from './call-records.js';
import type { GatewayContext, HangupParty } from './context.js';
import { type AuthChallenge, DigestSupport } from './digest-support.js';
import { SourceRateLimiter } from './flood.js';
import { handleInbound } from './inbound.js';
import { OriginateError, originate } from './outbound.js';
import { sendOptionsProbe } from './probe.js';

export interface GatewayOptions {
  config: ConfigManager;
  logger: Logger;
  clock?: Clock;
}

const RECENT_CALLS = 1000;
const SWEEP_MS = 1000;

export class Gateway implements ControlBackend, GatewayContext {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics = new GatewayMetrics();
  readonly mediaClock: MediaClock;
  readonly concurrency = new ConcurrencyLimiter();
  readonly cps: CpsLimiter;
  readonly prober: OptionsProber;
  readonly health: HealthRegistry;
  readonly accountSid = `AC${'0'.repeat(32)}`;
  ua!: SipUserAgent;
  portAllocator!: PortAllocator;
  mediaBindAddress = '0.0.0.0';
  mediaAddress = '127.0.0.1';
  readonly #config: ConfigManager;
  readonly #calls = new Map<string, Call>();
  readonly #recent = new Map<string, Call>();
  readonly #digest: DigestSupport;
  #transport!: SipTransport;
  #inbound: InboundMatcher;
  #router: OutboundRouter;
  #records: CallRecordWriter | undefined;
  #api: FastifyInstance | undefined;
  #echoBot: EchoBot | undefined;
  #sweep: TimerHandle | undefined;
  #flood!: SourceRateLimiter;
  #draining = false;
  #drained: (() => void) | undefined;

  private constructor(options: GatewayOptions) {
    this.#config = options.config;
    this.clock = options.clock ?? new SystemClock();
    this.logger = options.logger;
    this.mediaClock = new MediaClock(
      this.clock,
      20,
      (error) => this.logger.error({ err: error }, 'media tick failed'),
      options.config.current.gateway.rtp.pacingLeadMs,
    );
    this.cps = new CpsLimiter(new MemoryCpsStore(), this.clock);
    this.prober = new OptionsProber(this.clock, (gateway) => sendOptionsProbe(this.ua, gateway));
    this.health = new HealthRegistry(this.clock, this.prober);
    this.#inbound = new InboundMatcher(options.config.current);
    this.#router = new OutboundRouter(this.health, this.clock);
    this.#digest = new DigestSupport(this.clock);
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

  /** Bound SIP and API addresses (ports resolved when configured as 0). */
  addresses(): { sip: Array<{ transport: string; address: string; port: number }>; api: string | undefined } {
    const sip = (['udp', 'tcp'] as const).flatMap((kind) => {
      const local = this.#transport?.local(kind);
      return local ? [local] : [];
    });
    const api = this.#api?.server.address();
    return { sip, api: api && typeof api === 'object' ? `http://${api.address}:${api.port}` : undefined };
  }

  config(): PatchbayConfig {
    return this.#config.current;
  }

  inbound(): InboundMatcher {
    return this.#inbound;
  }

  router(): OutboundRouter {
    return this.#router;
  }

  resolveTargetUrl(url: string): string {
    if (url.startsWith(BUILTIN_TARGET_PREFIX)) {
      if (!this.#echoBot) throw new Error(`${url} is not running`);
      return this.#echoBot.url;
    }
    return url;
  }

  authenticate(trunk: TrunkConfig, session: InboundSession): AuthChallenge | undefined {
    return this.#digest.challengeInbound(trunk, session.invite);
  }

  digestAuthorizer(credentials: { username: string; password: string }): Authorizer {
    return this.#digest.authorizer(credentials);
  }

  admit(call: Call): boolean {
    if (this.#draining || this.#calls.size >= this.config().gateway.limits.maxCalls) return false;
    this.#calls.set(call.id, call);
    this.metrics.activeCalls.inc({ direction: call.direction });
    return true;
  }

  endCall(call: Call, by: HangupParty, reason: string, sipStatus?: number): void {
    if (call.state === 'completed') return;
    const wasAnswered = call.state === 'answered';
    call.state = 'completed';
    call.endedAtWall = this.clock.wallNow();
    call.hangupBy = by;
    call.disposition ??= reason;
    if (sipStatus !== undefined) call.sipStatus ??= sipStatus;
    if (by !== 'caller' && by !== 'callee') void call.session?.bye(reason).catch(() => undefined);
    call.freezeMedia();
    call.stream?.close(reason);
    call.media?.close();
    call.releaseSlot?.();
    if (this.#calls.delete(call.id)) this.metrics.activeCalls.dec({ direction: call.direction });
    this.#remember(call);
    this.#recordMediaQuality(call);
    if (wasAnswered) this.#recordGatewayHealth(call);
    if (!wasAnswered)
      this.metrics.callsTotal.inc({
        direction: call.direction,
        trunk: call.trunk ?? 'unknown',
        outcome: reason.slice(0, 40),
      });
    call.onStatus?.('completed', {
      reason,
      hangupBy: by,
      durationMs: call.record().durationMs,
      sipStatus: call.sipStatus,
    });
    this.#records?.write(call.record());
    this.logger.info({ callId: call.id, sipCallId: call.sipCallId, by, reason }, 'call ended');
    if (this.#draining && this.#calls.size === 0) this.#drained?.();
  }

  // ------------------------------------------------------------------ ControlBackend

  async originate(request: OriginateRequest): Promise<CallSummary> {
    if (this.#draining) throw new OriginateError(503, 'draining');
    const call = await originate(this, request);
    return call.summary();
  }

  listCalls(): CallSummary[] {
    return [...this.#calls.values()].map((call) => call.summary());
  }

  getCall(id: string): CallDetail | undefined {
    return (this.#calls.get(id) ?? this.#recent.get(id))?.detail();
  }

  hangup(id: string): CallOperationResult {
    const call = this.#calls.get(id);
    if (!call) return { ok: false, status: 404, error: 'no such active call' };
    this.endCall(call, 'api', 'api hangup');
    return { ok: true };
  }

  sendDtmf(id: string, digits: string): CallOperationResult {
    const call = this.#calls.get(id);
    if (!call?.media) return { ok: false, status: 404, error: 'no such active call' };
    if (call.state !== 'answered') return { ok: false, status: 409, error: `call is ${call.state}` };
    try {
      call.media.sendDtmf(digits);
      return { ok: true };
    } catch (error) {
      return { ok: false, status: 409, error: (error as Error).message };
    }
  }

  trunkHealth(): unknown[] {
    return this.health.snapshot();
  }

  cpsLimits(): CpsLimit[] {
    const limits: CpsLimit[] = [];
    for (const trunk of this.config().trunks.values()) {
      const [limit] = this.cps.effectiveLimits([
        { key: `trunk:${trunk.name}`, rate: trunk.cps.rate, burst: trunk.cps.burst },
      ]);
      if (limit) limits.push(limit);
    }
    return limits;
  }

  setCpsLimit(limit: CpsLimit): boolean {
    if (!this.cpsLimits().some((known) => known.key === limit.key)) return false;
    this.cps.setLimit(limit.key, limit.rate, limit.burst);
    return true;
  }

  drain(): DrainStatus {
    this.#draining = true;
    return { draining: true, activeCalls: this.#calls.size };
  }

  isReady(): boolean {
    return !this.#draining && this.#transport !== undefined;
  }

  get activeCalls(): number {
    return this.#calls.size;
  }

  /**
   * SIGTERM: refuse new calls (503), let calls in progress finish up to `timeoutMs`, then
   * end the rest. Resolves when no call is left.
   */
  async drainAndWait(timeoutMs: number): Promise<void> {
    this.drain();
    if (this.#calls.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = this.clock.setTimer(timeoutMs, () => {
        for (const call of [...this.#calls.values()]) this.endCall(call, 'gateway', 'drain timeout');
        resolve();
      });
      this.#drained = () => {
        timer.cancel();
        resolve();
      };
    });
  }

  async stop(): Promise<void> {
    this.#sweep?.cancel();
    for (const call of [...this.#calls.values()]) this.endCall(call, 'gateway', 'shutdown');
    this.mediaClock.stop();
    this.prober.stop();
    this.health.close();
    this.cps.close();
    this.ua?.close();
    await this.#transport?.close();
    await this.#api?.close();
    await this.#echoBot?.close();
    await this.#records?.close();
    this.metrics.close();
  }

  // ------------------------------------------------------------------ internals

  async #start(): Promise<void> {
    const config = this.config().gateway;
    this.#flood = new SourceRateLimiter(this.clock, config.limits.requestsPerSourcePerSec);
    const listen = config.listen.flatMap((spec) =>
      spec.transport === 'udp' || spec.transport === 'tcp'
        ? [{ transport: spec.transport, address: spec.host, port: spec.port }]
        : [],
    );
    this.#transport = new SipTransport({
      listen,
      logger: this.logger,
      allowRequest: (source, request) => this.#allowRequest(source.address, request),
    });
    await this.#transport.start();
    this.mediaBindAddress = listen[0]?.address ?? '0.0.0.0';
    this.mediaAddress = config.publicAddress ?? advertisableAddress(this.mediaBindAddress);
    this.ua = new SipUserAgent({
      transport: this.#transport,
      clock: this.clock,
      logger: this.logger,
      ...(config.publicAddress ? { advertisedHost: config.publicAddress } : {}),
      product: 'patchbay/0.1',
      admissionStatus: () => (this.#draining ? 503 : undefined),
    });
    this.ua.onInvite((session) => {
      handleInbound(this, session).catch((error: unknown) => {
        this.logger.error({ err: error }, 'inbound call handler failed');
        session.reject(500);
      });
    });
    this.portAllocator = new PortAllocator(config.rtp.portMin, config.rtp.portMax);
    this.mediaClock.start();
    this.health.apply(this.config());
    if (config.routes.some((route) => route.target.url.startsWith(BUILTIN_TARGET_PREFIX))) {
      this.#echoBot = await EchoBot.start({ logger: this.logger });
    }
    if (config.callRecords.enabled) this.#records = CallRecordWriter.open(config.callRecords.path);
    this.#api = await createControlServer({
      backend: this,
      metrics: this.metrics,
      ...(config.api.bearerToken ? { token: config.api.bearerToken } : {}),
      logger: this.logger,
    });
    await this.#api.listen({ host: config.api.host, port: config.api.port });
    this.#config.on('changed', (next) => this.#applyConfig(next));
    this.#config.on('invalid', (error) => this.logger.error({ err: error.message }, 'config reload refused'));
    this.#scheduleSweep();
  }

  /**
   * Transport admission (before any transaction state): requests from sources no trunk
   * knows are dropped silently when the trunk set says so, which costs scanners nothing.
   * In-dialog requests always pass: outbound carriers send BYE from their own addresses.
   * Before all that, each source address is rate limited (flood protection).
   */
  #allowRequest(address: string, request: SipRequest): boolean {
    if (!this.#flood.allow(address)) return false;
    if (request.toTag() !== undefined || request.method === 'ACK' || request.method === 'CANCEL') return true;
    const decision = this.#inbound.match(address, request.requestUri().user ?? '');
    return !(decision.ok === false && decision.reason === 'unknown_source' && decision.action === 'drop');
  }

  /** Reload: new calls see the new snapshot; calls in progress keep theirs. */
  #applyConfig(next: PatchbayConfig): void {
    this.#inbound = new InboundMatcher(next);
    this.health.apply(next);
    this.logger.info({ files: next.files }, 'config reloaded');
  }

  /** Max call duration and RTP inactivity, checked once a second. */
  #scheduleSweep(): void {
    this.#sweep = this.clock.setTimer(SWEEP_MS, () => {
      const limits = this.config().gateway.limits;
      for (const call of [...this.#calls.values()]) {
        if (call.state !== 'answered') continue;
        const ageSec = (this.clock.now() - call.startedAtMs) / 1000;
        const inactiveMs = call.media?.stats().inactiveMs ?? 0;
        if (ageSec > limits.maxCallDurationSec) this.endCall(call, 'gateway', 'max call duration');
        else if (inactiveMs > limits.rtpInactivityTimeoutSec * 1000)
          this.endCall(call, 'gateway', 'rtp inactivity');
      }
      this.#updateGauges();
      this.#scheduleSweep();
    });
  }

  #updateGauges(): void {
    let queued = 0;
    for (const call of this.#calls.values()) queued += call.bridge?.stats().queuedSamples ?? 0;
    this.metrics.streamQueueDepth.set({ direction: 'to_caller' }, Math.round(queued / 160));
    for (const snapshot of this.health.snapshot()) {
      const [trunk, gateway] = snapshot.gatewayId.split('/');
      this.metrics.trunkScore.set({ trunk: trunk ?? '', gateway: gateway ?? '' }, snapshot.score);
    }
  }

  #recordMediaQuality(call: Call): void {
    const jitter = call.finalMedia?.jitterBuffer as
      | { jitterBufferDelay?: number; jitterBufferEmittedCount?: number; concealedSamples?: number }
      | undefined;
    if (jitter?.jitterBufferEmittedCount) {
      this.metrics.jitterBufferDelay.observe(
        (jitter.jitterBufferDelay ?? 0) / jitter.jitterBufferEmittedCount,
      );
    }
    if (jitter?.concealedSamples) this.metrics.concealedSamplesTotal.inc(jitter.concealedSamples);
    const fec = call.finalMedia?.fecRecovered;
    if (typeof fec === 'number' && fec > 0) this.metrics.fecRecoveredTotal.inc(fec);
  }

  /**
   * An answered outbound call tells its gateway's health window how long it lasted (ACD) and
   * how its media arrived (loss, jitter, RTT → MOS); the attempts fed ASR, CCR, PDD and AST.
   */
  #recordGatewayHealth(call: Call): void {
    if (call.direction !== 'outbound') return;
    const answering = call.attempts.at(-1);
    const health = answering ? this.health.get(answering.gateway) : undefined;
    if (!health || !call.answeredAtWall) return;
    health.recordCallEnded(call.answeredDurationMs() / 1000);
    const quality = call.mediaQuality();
    if (quality) health.recordMedia(quality);
  }

  #remember(call: Call): void {
    this.#recent.set(call.id, call);
    if (this.#recent.size > RECENT_CALLS) {
      const oldest = this.#recent.keys().next().value;
      if (oldest !== undefined) this.#recent.delete(oldest);
    }
  }
}

/** The address to write into SDP when bound to a wildcard: the first external IPv4. */
function advertisableAddress(bind: string): string {
  if (bind !== '0.0.0.0' && bind !== '::') return bind;
  for (const addresses of Object.values(networkInterfaces())) {
    const external = addresses?.find((address) => address.family === 'IPv4' && !address.internal);
    if (external) return external.address;
  }
  return '127.0.0.1';
}

/**
 * In-process call flows: a gateway-side SipUserAgent whose INVITE handler builds a
 * CallController from test ports (FakeMediaLeg, FakeBots, the real trunk limiters, matcher,
 * router and health registry), and carrier-side SipUserAgents the test drives, all on one
 * FakeClock over the in-memory SIP network. The gateway side mirrors what Gateway wires:
 * registry add on `admitted`, remove on `ended`, observeCall with real metrics, 503 to new
 * INVITEs while draining.
 */
import assert from 'node:assert/strict';
import { afterEach } from 'node:test';
import {
  type GatewayFileInput,
  gatewayFileSchema,
  makeSnapshot,
  type PatchbayConfig,
  type TrunkConfig,
  type TrunkFileInput,
  trunkSchema,
} from '../../../src/config/index.js';
import { GatewayMetrics } from '../../../src/control/metrics.js';
import { GatewayAdmission, type GatewayAdmissionOptions } from '../../../src/gateway/admission.js';
import { CallController } from '../../../src/gateway/call-controller.js';
import type { CallEnd } from '../../../src/gateway/call-end.js';
import { observeCall } from '../../../src/gateway/call-observers.js';
import { inboundPolicy, trunkDialer } from '../../../src/gateway/call-ports.js';
import type { CallRecord } from '../../../src/gateway/call-record.js';
import { CallRegistry } from '../../../src/gateway/call-registry.js';
import { DigestSupport } from '../../../src/gateway/digest-support.js';
import type { CallPorts, OutboundRequest } from '../../../src/gateway/ports.js';
import type { InboundSession, OutboundSession } from '../../../src/sip/call-legs.js';
import type { SipResponse } from '../../../src/sip/message.js';
import type { SdesOffer } from '../../../src/sip/sdes.js';
import { type AudioCodecName, createOffer, negotiateAnswer } from '../../../src/sip/sdp.js';
import type { TransportAddress } from '../../../src/sip/types.js';
import { SipUserAgent } from '../../../src/sip/user-agent.js';
import { RateLimitedWarning } from '../../../src/stream/index.js';
import {
  ConcurrencyLimiter,
  CpsLimiter,
  HealthRegistry,
  InboundMatcher,
  type InboundMatcherOptions,
  MemoryCpsStore,
  OutboundRouter,
  type ServerLocator,
} from '../../../src/trunks/index.js';
import { FakeClock, silentLogger } from '../../../src/util/index.js';
import { FakeMediaLeg } from '../../helpers/fake-media-leg.js';
import { earlyRequest } from '../../sip/helpers/early-requests.js';
import { MemoryNetwork, type WireRecord } from '../../sip/helpers/memory-transport.js';
import { FakeDns, fakeLocator } from '../../trunks/helpers/fake-dns.js';
import { FakeBots } from './fake-bots.js';

export const GATEWAY: TransportAddress = { transport: 'udp', address: '127.0.0.1', port: 5060 };
export const CARRIER_A: TransportAddress = { transport: 'udp', address: '127.0.0.1', port: 5070 };
export const CARRIER_B: TransportAddress = { transport: 'udp', address: '127.0.0.2', port: 5070 };
export const CALLED = '+15550100';
export const BOT_URL = 'ws://bot.test/stream';
/** The port the carriers write into their SDP. */
export const CARRIER_RTP_PORT = 30000;

/** Lets every queued delivery (microtasks) and the promise chains they start run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Advances virtual time in steps, delivering messages between steps. */
export async function run(clock: FakeClock, ms: number, step = 100): Promise<void> {
  for (let done = 0; done < ms; done += step) {
    clock.advance(Math.min(step, ms - done));
    await flush();
  }
}

/** One call as the gateway side saw it, event by event. */
export interface ObservedCall {
  call: CallController;
  /** Event names in order ('admitted', 'state:ringing', 'answered', 'ended'...). */
  events: string[];
  ends: Array<{ end: CallEnd; record: CallRecord | undefined }>;
}

/** A carrier's SIP user agent: the INVITEs it received, answered by `onInvite` when given. */
export interface Carrier {
  ua: SipUserAgent;
  address: TransportAddress;
  incoming: InboundSession[];
  /**
   * INVITEs towards the gateway, as a carrier delivering a call: to `to`, with the Request-URI
   * user `requestUser` (default `to`; a registrar puts our Contact there), extra `headers` and
   * an SDES `srtp` offer.
   */
  call(options?: CarrierCallOptions): OutboundSession;
}

export interface CarrierCallOptions {
  to?: string;
  requestUser?: string;
  codecs?: AudioCodecName[];
  headers?: Array<[string, string]>;
  srtp?: SdesOffer;
  /** The INVITE's body in place of an offer of `codecs` ('' for an INVITE without SDP). */
  sdp?: string;
}

export interface HarnessOptions {
  trunk?: Partial<TrunkFileInput>;
  /** Records for gateways given by DNS name, in place before the trunk is applied. */
  dns?: FakeDns;
  limits?: NonNullable<GatewayFileInput['limits']>;
  /** Cluster leases in place of the local concurrency count. */
  leases?: GatewayAdmissionOptions['leases'];
  /** The node's overload as NodeLoad reports it: the Retry-After while overloaded. */
  overloadRetryAfterSec?: GatewayAdmissionOptions['overloadRetryAfterSec'];
  /** What the inbound matcher takes from the gateway (registrars' addresses, mutual TLS). */
  inbound?: InboundMatcherOptions;
}

export class CallHarness {
  readonly clock = new FakeClock();
  readonly network = new MemoryNetwork(this.clock);
  readonly journal: string[] = [];
  readonly bots = new FakeBots(this.journal);
  readonly legs: FakeMediaLeg[] = [];
  /** The trunk media policy each leg was opened with (same order as `legs`). */
  readonly legPolicies: Array<Parameters<CallPorts['mediaLegs']['open']>[2]> = [];
  readonly calls: ObservedCall[] = [];
  readonly metrics = new GatewayMetrics({ processMetrics: false });
  readonly registry = new CallRegistry();
  /** What the gateway's rate-limited 'calls refused' warning logged. */
  readonly refusalLines: object[] = [];
  readonly concurrency = new ConcurrencyLimiter();
  readonly cps = new CpsLimiter(new MemoryCpsStore(), this.clock);
  /** DNS as the gateway's locator sees it; gateways given by address never ask it. */
  readonly dns: FakeDns;
  readonly locator: ServerLocator;
  readonly health: HealthRegistry;
  readonly config: PatchbayConfig;
  readonly trunk: TrunkConfig;
  readonly ports: CallPorts;
  readonly gatewayUa: SipUserAgent;
  /** New media legs hold start() until the test calls releaseStart() on them. */
  holdMediaStart = false;
  /** Gateway's own admission: drain() refuses new calls (and new INVITEs get 503). */
  readonly admission: GatewayAdmission;
  readonly #carriers: Carrier[] = [];
  readonly #refusals = new RateLimitedWarning(
    { ...silentLogger, warn: (fields) => this.refusalLines.push(fields) },
    this.clock,
    'calls refused',
  );

  constructor(options: HarnessOptions = {}) {
    this.dns = options.dns ?? new FakeDns();
    this.locator = fakeLocator(this.clock, this.dns);
    this.health = new HealthRegistry(this.clock, this.locator);
    this.trunk = trunkSchema.parse({
      name: 'carrier',
      inbound: { allowedCidrs: ['127.0.0.0/8'] },
      outbound: {
        gateways: [
          { name: 'a', host: CARRIER_A.address, port: CARRIER_A.port, priority: 1 },
          { name: 'b', host: CARRIER_B.address, port: CARRIER_B.port, priority: 2 },
        ],
      },
      ...options.trunk,
    });
    const gatewayFile = gatewayFileSchema.parse({
      limits: { maxCallDurationSec: 3600, rtpInactivityTimeoutSec: 30, ...options.limits },
      routes: [{ match: '*', target: { url: BOT_URL } }],
    });
    this.config = makeSnapshot(gatewayFile, [this.trunk]);
    this.health.apply(this.config);
    const limits = gatewayFile.limits;
    this.admission = new GatewayAdmission({
      concurrency: this.concurrency,
      leases: options.leases,
      cps: this.cps,
      liveCalls: () => this.registry.size,
      maxCalls: () => limits.maxCalls,
      ...(options.overloadRetryAfterSec ? { overloadRetryAfterSec: options.overloadRetryAfterSec } : {}),
    });
    const inbound = new InboundMatcher(this.config, options.inbound);
    const digest = new DigestSupport(this.clock);
    const router = new OutboundRouter(this.health, this.locator, this.clock, () => 0);
    this.gatewayUa = new SipUserAgent({
      transport: this.network.bind(GATEWAY),
      clock: this.clock,
      logger: silentLogger,
      admissionStatus: () => (this.admission.draining ? 503 : undefined),
      onInvite: (session) => {
        const { call, run: runCall } = CallController.inbound(this.ports, session);
        this.#observe(call);
        void runCall();
      },
    });
    const ua = this.gatewayUa;
    this.ports = {
      clock: this.clock,
      logger: silentLogger,
      mediaAddress: GATEWAY.address,
      maxDurationMs: limits.maxCallDurationSec * 1000,
      rtpInactivityMs: limits.rtpInactivityTimeoutSec * 1000,
      mediaLegs: {
        open: async (_callId, _bridgeRate, policy, continueFrom) => {
          this.legPolicies.push(policy);
          const leg = new FakeMediaLeg(40000 + 2 * this.legs.length, this.journal, continueFrom);
          if (this.holdMediaStart) leg.holdStart();
          this.legs.push(leg);
          return leg;
        },
      },
      bots: this.bots,
      admission: this.admission,
      inbound: inboundPolicy(
        () => inbound,
        digest,
        () => this.config,
      ),
      outbound: {
        plan: (trunk) => router.plan(trunk),
        health: (gatewayId) => this.health.get(gatewayId),
        dial: trunkDialer(ua, digest),
        trunk: (name) => {
          const trunk = this.config.trunks.get(name);
          return trunk?.outbound ? trunk : undefined;
        },
      },
    };
  }

  /** A carrier bound at `address`; `onInvite` answers the gateway's INVITEs to it. */
  carrier(address: TransportAddress, onInvite?: (session: InboundSession) => void): Carrier {
    const incoming: InboundSession[] = [];
    const ua = new SipUserAgent({
      transport: this.network.bind(address),
      clock: this.clock,
      logger: silentLogger,
      onInvite: (session) => {
        incoming.push(session);
        onInvite?.(session);
      },
    });
    const carrier: Carrier = {
      ua,
      address,
      incoming,
      call: ({
        to = CALLED,
        requestUser = to,
        codecs = ['PCMA' as AudioCodecName],
        headers = [],
        srtp,
        sdp,
      } = {}) =>
        ua.call({
          requestUri: `sip:${requestUser}@${GATEWAY.address}:${GATEWAY.port}`,
          headers,
          destination: GATEWAY,
          from: `<sip:+15551230000@${address.address}>`,
          to: `<sip:${to}@${GATEWAY.address}>`,
          sdp:
            sdp ??
            createOffer({
              address: address.address,
              port: CARRIER_RTP_PORT,
              codecs,
              ...(srtp ? { srtp } : {}),
            }),
        }),
    };
    this.#carriers.push(carrier);
    return carrier;
  }

  /** An outbound call as the control API places it, observed like the gateway does. */
  originate(
    to = '+15559876543',
    callerId?: OutboundRequest['callerId'],
    headers?: OutboundRequest['headers'],
  ): { observed: ObservedCall; run: Promise<void> } {
    const request: OutboundRequest = {
      trunk: this.trunk,
      target: this.config.gateway.routes[0]?.target ?? assert.fail('no route'),
      from: '+15551230000',
      to,
      ringTimeoutMs: 60_000,
      ...(callerId ? { callerId } : {}),
      ...(headers ? { headers } : {}),
    };
    const { call, run: runCall } = CallController.outbound(this.ports, request);
    const observed = this.#observe(call);
    return { observed, run: runCall() };
  }

  /** The one call the gateway saw at `index`, failing the test when there is none. */
  observed(index: number): ObservedCall {
    return this.calls[index] ?? assert.fail(`no call #${index}`);
  }

  /** Final responses to INVITEs the gateway sent back to `carrier`. */
  inviteResponses(to: TransportAddress): Array<WireRecord & { message: SipResponse }> {
    return this.network.log.filter(
      (record): record is WireRecord & { message: SipResponse } =>
        !record.message.isRequest &&
        record.message.cseq().method === 'INVITE' &&
        record.message.status >= 180 &&
        record.to.address === to.address &&
        record.to.port === to.port,
    );
  }

  /**
   * From now on the carriers' 183s are reliable (RFC 3262: Require: 100rel, RSeq 1) and their
   * 2xx to INVITE carry no SDP, as after a reliable answer they need not (§5).
   */
  answerReliablyIn183(): void {
    this.network.rewrite = (message) => {
      if (message.isRequest) return;
      if (message.status === 183) {
        message.set('Require', '100rel');
        message.set('RSeq', '1');
      }
      if (message.status === 200 && message.cseq().method === 'INVITE') message.setBody('');
    };
  }

  /**
   * Carrier A offers `sdp` in an UPDATE of the early dialog its 183 made (RFC 3311 §5.1); the
   * gateway's response to it.
   */
  async earlyUpdateFromCarrier(sdp: string): Promise<SipResponse> {
    const progress = this.network.log.find(
      (record) => !record.message.isRequest && record.message.status === 183,
    );
    assert.ok(progress, this.network.describe().join(', '));
    const update = earlyRequest(progress.message, 'UPDATE', {
      cseq: 2,
      fromCaller: false,
      body: sdp,
      branch: 'eu',
    });
    this.network.transmit(update, CARRIER_A, GATEWAY);
    await flush();
    const response = this.network.log.find(
      (record) => !record.message.isRequest && record.message.cseq().method === 'UPDATE',
    )?.message;
    assert.ok(response && !response.isRequest, this.network.describe().join(', '));
    return response;
  }

  /** Stops every user agent and checks the wire carried only well-formed messages. */
  close(): void {
    for (const carrier of this.#carriers) carrier.ua.close();
    this.gatewayUa.close();
    this.health.close();
    this.locator.close();
    this.cps.close();
    assert.deepEqual(this.network.errors, []);
  }

  #observe(call: CallController): ObservedCall {
    const observed: ObservedCall = { call, events: [], ends: [] };
    this.calls.push(observed);
    call.once('admitted', () => this.registry.add(call));
    observeCall(call, {
      metrics: this.metrics,
      health: this.health,
      records: undefined,
      logger: silentLogger,
      refusals: this.#refusals,
    });
    call.on('admitted', () => observed.events.push('admitted'));
    call.on('state', (state) => observed.events.push(`state:${state}`));
    call.on('attempt', (attempt) => observed.events.push(`attempt:${attempt.status}`));
    call.on('answered', () => observed.events.push('answered'));
    call.on('ended', (end, record) => {
      observed.events.push('ended');
      observed.ends.push({ end, record });
      this.registry.remove(call);
    });
    return observed;
  }
}

/** One harness per test of the file, closed after it: `const setup = harnessPerTest();`. */
export function harnessPerTest(): (options?: HarnessOptions) => CallHarness {
  let harness: CallHarness | undefined;
  afterEach(() => {
    harness?.close();
    harness = undefined;
  });
  return (options = {}) => {
    harness = new CallHarness(options);
    return harness;
  };
}

/** A carrier's answer to the gateway's offer: 180, then 200 with SDP in `codec` (and SRTP per `encryption`). */
export function answerWith(
  codec: AudioCodecName,
  encryption: 'none' | 'optional' | 'required' = 'none',
): (session: InboundSession) => void {
  return (session) => {
    session.progress(180);
    session.accept(carrierAnswer(session, codec, encryption));
  };
}

/** A carrier's 183 with its answer to the gateway's offer in `codec` (SRTP per `encryption`), and with `accept` its 200. */
export function progressWith(
  codec: AudioCodecName,
  options: { encryption?: 'none' | 'optional' | 'required'; accept?: boolean } = {},
): (session: InboundSession) => void {
  return (session) => {
    const answer = carrierAnswer(session, codec, options.encryption ?? 'none');
    session.progress(183, answer);
    if (options.accept) session.accept(answer);
  };
}

function carrierAnswer(
  session: InboundSession,
  codec: AudioCodecName,
  encryption: 'none' | 'optional' | 'required',
): string {
  const answer = negotiateAnswer(session.remoteSdp ?? '', {
    address: '127.0.0.2',
    port: CARRIER_RTP_PORT,
    preferences: [codec],
    encryption,
  });
  assert.ok(answer.ok, 'the gateway offered the carrier a codec it takes');
  return answer.answer;
}

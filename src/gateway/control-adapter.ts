/**
 * The control API's view of the gateway: it validates what the API asks, finds the call in
 * the registry and passes the request on. HTTP itself lives in src/control.
 */
import { streamTargetSchema, type TrunkConfig } from '../config/index.js';
import type {
  CallDetail,
  CallOperationResult,
  CallSummary,
  ControlBackend,
  CpsLimit,
  DrainStatus,
  OriginateRequest,
} from '../control/backend.js';
import { cpsKeys } from '../trunks/index.js';
import { OutboundRefusal } from './call-controller.js';
import type { Gateway } from './gateway.js';

/** Fastify answers a thrown error with its `status`. */
export class OriginateError extends Error {
  constructor(
    readonly status: 400 | 404 | 503,
    message: string,
  ) {
    super(message);
  }
}

const DEFAULT_RING_TIMEOUT_SEC = 60;

export class GatewayControl implements ControlBackend {
  readonly #gateway: Gateway;

  constructor(gateway: Gateway) {
    this.#gateway = gateway;
  }

  async originate(request: OriginateRequest): Promise<CallSummary> {
    if (this.#gateway.draining) throw new OriginateError(503, 'draining');
    const trunk = this.#pickTrunk(request.trunk);
    const target = streamTargetSchema.safeParse(request.stream);
    if (!target.success) throw new OriginateError(400, target.error.issues[0]?.message ?? 'bad stream');
    try {
      const call = await this.#gateway.originate(
        {
          trunk,
          target: target.data,
          from: request.from,
          to: request.to,
          ringTimeoutMs: (request.timeoutSeconds ?? DEFAULT_RING_TIMEOUT_SEC) * 1000,
        },
        request.statusCallback,
      );
      return call.summary();
    } catch (error) {
      if (error instanceof OutboundRefusal) throw new OriginateError(503, error.message);
      throw error;
    }
  }

  listCalls(): CallSummary[] {
    return this.#gateway.calls.live().map((call) => call.summary());
  }

  getCall(id: string): CallDetail | undefined {
    return this.#gateway.calls.detail(id);
  }

  hangup(id: string): CallOperationResult {
    const call = this.#gateway.calls.get(id);
    if (!call) return { ok: false, status: 404, error: 'no such active call' };
    call.hangup('api_hangup');
    return { ok: true };
  }

  sendDtmf(id: string, digits: string, durationMs: number): CallOperationResult {
    const call = this.#gateway.calls.get(id);
    if (!call) return { ok: false, status: 404, error: 'no such active call' };
    const refusal = call.sendDtmf(digits, durationMs);
    return refusal === undefined ? { ok: true } : { ok: false, status: 409, error: refusal };
  }

  trunkHealth(): unknown[] {
    return this.#gateway.health.snapshot();
  }

  cpsLimits(): CpsLimit[] {
    const limits: CpsLimit[] = [];
    for (const trunk of this.#gateway.config().trunks.values()) {
      const [limit] = this.#gateway.cps.effectiveLimits([
        { key: cpsKeys.trunk(trunk.name), rate: trunk.cps.rate, burst: trunk.cps.burst },
      ]);
      if (limit) limits.push(limit);
    }
    return limits;
  }

  setCpsLimit(limit: CpsLimit): boolean {
    if (!this.cpsLimits().some((known) => known.key === limit.key)) return false;
    this.#gateway.cps.setLimit(limit.key, limit.rate, limit.burst);
    return true;
  }

  drain(): DrainStatus {
    this.#gateway.drain();
    return { draining: true, activeCalls: this.#gateway.activeCalls };
  }

  isReady(): boolean {
    return this.#gateway.isReady();
  }

  #pickTrunk(name: string | undefined): TrunkConfig {
    const trunks = this.#gateway.config().trunks;
    if (name !== undefined) {
      const trunk = trunks.get(name);
      if (!trunk?.outbound) throw new OriginateError(404, `no outbound trunk named '${name}'`);
      return trunk;
    }
    const first = [...trunks.values()].find((trunk) => trunk.outbound);
    if (!first) throw new OriginateError(404, 'no trunk has an outbound section');
    return first;
  }
}

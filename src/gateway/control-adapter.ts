/**
 * The control API's view of the gateway: it validates what the API asks, finds the call in
 * the registry and passes the request on. HTTP itself lives in src/control.
 */

import type { Cluster } from '../cluster/index.js';
import {
  callerIdSchema,
  checkedStreamTargetSchema,
  type GatewayFileConfig,
  type PatchbayConfig,
  type TrunkConfig,
} from '../config/index.js';
import type {
  CallDetail,
  CallList,
  CallLookupResult,
  CallOperationFailure,
  CallOperationResult,
  CallSummary,
  ControlBackend,
  ControlServerLimits,
  CpsLimit,
  DrainStatus,
  OriginateRequest,
  RequestOrigin,
  TrunkRegistration,
} from '../control/index.js';
import { type CpsLimiter, cpsKeys, type HealthRegistry } from '../trunks/index.js';
import type { CallController } from './call-controller.js';
import type { CallRegistry } from './call-registry.js';
import { OutboundRefusal, type OutboundRequest } from './ports.js';

/** The API's connection limits in the server's units (whole ms, as Node takes them). */
export function apiLimits(api: GatewayFileConfig['api']): ControlServerLimits {
  const ms = (sec: number) => Math.round(sec * 1000);
  return {
    maxConnections: api.maxConnections,
    headerTimeoutMs: ms(api.headerTimeoutSec),
    requestTimeoutMs: ms(api.requestTimeoutSec),
    idleTimeoutMs: ms(api.idleTimeoutSec),
  };
}

/** What the control API needs of the gateway (the Gateway satisfies it; nothing else is reached). */
export interface ControlledGateway {
  readonly calls: CallRegistry;
  readonly cluster: Cluster | undefined;
  readonly cps: CpsLimiter;
  readonly health: HealthRegistry;
  readonly draining: boolean;
  readonly activeCalls: number;
  config(): PatchbayConfig;
  drain(): void;
  isReady(): boolean;
  originate(request: OutboundRequest, statusCallback?: string): Promise<CallController>;
  /** Registration-based trunks and their state. */
  registrations(): TrunkRegistration[];
}

/** The control API answers a thrown OriginateError with its `status` and message. */
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
  readonly #gateway: ControlledGateway;

  constructor(gateway: ControlledGateway) {
    this.#gateway = gateway;
  }

  async originate(request: OriginateRequest): Promise<CallSummary> {
    if (this.#gateway.draining) throw new OriginateError(503, 'draining');
    const trunk = this.#pickTrunk(request.trunk);
    const target = checkedStreamTargetSchema.safeParse(request.stream);
    if (!target.success) throw new OriginateError(400, target.error.issues[0]?.message ?? 'bad stream');
    const callerId = callerIdSchema.safeParse(request.callerId ?? {});
    if (!callerId.success) {
      const issue = callerId.error.issues[0];
      throw new OriginateError(400, `callerId.${issue?.path.join('.')}: ${issue?.message ?? 'invalid'}`);
    }
    try {
      const call = await this.#gateway.originate(
        {
          trunk,
          target: target.data,
          from: request.from,
          to: request.to,
          ringTimeoutMs: (request.timeoutSeconds ?? DEFAULT_RING_TIMEOUT_SEC) * 1000,
          callerId: callerId.data,
          ...(request.headers ? { headers: Object.entries(request.headers) } : {}),
        },
        request.statusCallback,
      );
      return call.summary();
    } catch (error) {
      if (error instanceof OutboundRefusal) throw new OriginateError(503, error.message);
      throw error;
    }
  }

  /** In a cluster: this node's calls as they are now, then the other nodes' from the registry. */
  async listCalls(): Promise<CallList> {
    const local = this.#gateway.calls.live().map((call) => call.summary());
    const cluster = this.#gateway.cluster;
    if (!cluster) return { calls: local };
    const own = local.map((call) => ({ ...call, node: cluster.nodeId }));
    try {
      const others = (await cluster.calls.list())
        .filter((entry) => entry.node !== cluster.nodeId)
        .map((entry) => ({ ...entry.call, node: entry.node }));
      return { calls: [...own, ...others] };
    } catch {
      return { calls: own, complete: false };
    }
  }

  async getCall(id: string, origin: RequestOrigin): Promise<CallLookupResult> {
    const live = this.#gateway.calls.get(id);
    const call = live ? await live.freshDetail() : this.#gateway.calls.detail(id);
    if (call) return { ok: true, call };
    const answer = await this.#onOwner(id, origin, 'GET', `/v1/calls/${encodeURIComponent(id)}`);
    if (!answer.ok) return answer;
    if (!isCallDetail(answer.body))
      return { ok: false, status: 502, error: `node ${answer.node} sent no call` };
    return { ok: true, call: { ...answer.body, node: answer.node } };
  }

  async hangup(id: string, origin: RequestOrigin): Promise<CallOperationResult> {
    const call = this.#gateway.calls.get(id);
    if (!call)
      return okOrFailure(await this.#onOwner(id, origin, 'DELETE', `/v1/calls/${encodeURIComponent(id)}`));
    call.hangup('api_hangup');
    return { ok: true };
  }

  async sendDtmf(
    id: string,
    digits: string,
    durationMs: number,
    origin: RequestOrigin,
  ): Promise<CallOperationResult> {
    const call = this.#gateway.calls.get(id);
    if (!call)
      return okOrFailure(
        await this.#onOwner(id, origin, 'POST', `/v1/calls/${encodeURIComponent(id)}/dtmf`, {
          digits,
          durationMs,
        }),
      );
    const refusal = await call.sendDtmf(digits, durationMs);
    return refusal === undefined ? { ok: true } : { ok: false, status: 409, error: refusal };
  }

  trunkHealth(): unknown[] {
    return this.#gateway.health.snapshot();
  }

  trunkRegistrations(): TrunkRegistration[] {
    return this.#gateway.registrations();
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

  /**
   * A call this node does not hold: forwarded once to the node the cluster registry names; a
   * 2xx answer's body is passed back.
   */
  async #onOwner(
    id: string,
    origin: RequestOrigin,
    method: 'GET' | 'DELETE' | 'POST',
    path: string,
    body?: object,
  ): Promise<OwnerAnswer> {
    const missing: CallOperationFailure = { ok: false, status: 404, error: 'no such call' };
    const cluster: Cluster | undefined = this.#gateway.cluster;
    if (!cluster || origin.forwarded) return missing;
    const owner = await cluster.calls.owner(id).catch(() => null);
    if (owner === null) return { ok: false, status: 503, error: 'cluster call registry unreachable' };
    if (!owner || owner.node === cluster.nodeId) return missing;
    const answer = await cluster.calls.forward(owner, method, path, body);
    if (!answer.ok) return answer;
    if (answer.status >= 200 && answer.status < 300) return { ok: true, body: answer.body, node: owner.node };
    if (answer.status === 404 || answer.status === 409)
      return { ok: false, status: answer.status, error: `node ${owner.node}: ${errorText(answer.body)}` };
    return { ok: false, status: 502, error: `node ${owner.node} answered ${answer.status}` };
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

/** The owning node's 2xx answer to a forwarded operation, with its body. */
type OwnerAnswer = { ok: true; body: unknown; node: string } | CallOperationFailure;

/** A forwarded operation's outcome; the owner's body is not needed. */
function okOrFailure(answer: OwnerAnswer): CallOperationResult {
  return answer.ok ? { ok: true } : answer;
}

/** The owner's answer to `GET /v1/calls/:id`: an object naming a call. */
function isCallDetail(body: unknown): body is CallDetail {
  const call = body as Partial<CallDetail> | null | undefined;
  return typeof call?.id === 'string' && typeof call.media === 'object' && call.media !== null;
}

/** The `error` text of a control API error body, or a generic one. */
function errorText(body: unknown): string {
  const error = (body as { error?: unknown } | undefined)?.error;
  return typeof error === 'string' ? error : 'refused';
}

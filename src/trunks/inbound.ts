/**
 * Inbound classification: source IP → trunk (longest CIDR match), then called number →
 * route (most specific pattern; ties go to the earlier route).
 */
import {
  compileNumberPattern,
  matchesNumber,
  type NumberPattern,
  type PatchbayConfig,
  patternSpecificity,
  type RouteConfig,
  type TrunkConfig,
} from '../config/index.js';
import { CidrTable } from './cidr.js';

export type InboundDecision =
  | { ok: true; trunk: TrunkConfig; route: RouteConfig; routeIndex: number }
  /** Answer `403` or `drop` silently; the action comes from the trunk that owns the number, else drop. */
  | { ok: false; reason: 'unknown_source'; action: 403 | 'drop' }
  | { ok: false; reason: 'number_not_allowed' | 'no_route'; trunk: TrunkConfig; status: 403 | 404 };

interface CompiledRoute {
  route: RouteConfig;
  index: number;
  pattern: NumberPattern;
}

function compile(source: string): NumberPattern {
  const pattern = compileNumberPattern(source);
  // Config validation rejects invalid patterns, so this only fires on unvalidated input.
  if (typeof pattern === 'string') throw new RangeError(`${source}: ${pattern}`);
  return pattern;
}

function bestMatch<T extends { pattern: NumberPattern }>(items: readonly T[], number: string): T | undefined {
  let best: T | undefined;
  for (const item of items) {
    if (!matchesNumber(item.pattern, number)) continue;
    if (!best || patternSpecificity(item.pattern) > patternSpecificity(best.pattern)) best = item;
  }
  return best;
}

/** Built once per config snapshot; lookups allocate nothing but the result. */
export class InboundMatcher {
  readonly #sources = new CidrTable<TrunkConfig>();
  readonly #trunkNumbers = new Map<string, NumberPattern[]>();
  readonly #numberOwners: Array<{ pattern: NumberPattern; trunk: TrunkConfig }> = [];
  readonly #routes: CompiledRoute[];

  constructor(config: PatchbayConfig) {
    for (const trunk of config.trunks.values()) {
      if (!trunk.inbound) continue;
      for (const cidr of trunk.inbound.allowedCidrs) this.#sources.add(cidr, trunk);
      const patterns = trunk.inbound.numbers.map(compile);
      this.#trunkNumbers.set(trunk.name, patterns);
      for (const pattern of patterns) this.#numberOwners.push({ pattern, trunk });
    }
    this.#routes = config.gateway.routes.map((route, index) => ({
      route,
      index,
      pattern: compile(route.match),
    }));
  }

  /**
   * Whether anything from `sourceAddress` could be answered, before any request is read (a
   * TCP connection at accept): a trunk's source, or some trunk answers unknown sources 403.
   */
  admitsSource(sourceAddress: string): boolean {
    return (
      this.#sources.lookup(sourceAddress) !== undefined ||
      this.#numberOwners.some(({ trunk }) => trunk.inbound?.unknownSourceAction === 403)
    );
  }

  match(sourceAddress: string, calledNumber: string): InboundDecision {
    const trunk = this.#sources.lookup(sourceAddress)?.value;
    if (!trunk) {
      const owner = bestMatch(this.#numberOwners, calledNumber)?.trunk;
      return { ok: false, reason: 'unknown_source', action: owner?.inbound?.unknownSourceAction ?? 'drop' };
    }
    const allowed = this.#trunkNumbers.get(trunk.name) ?? [];
    if (allowed.length > 0 && !allowed.some((p) => matchesNumber(p, calledNumber))) {
      return { ok: false, reason: 'number_not_allowed', trunk, status: 403 };
    }
    const candidates = this.#routes.filter(
      (r) => r.route.trunk === undefined || r.route.trunk === trunk.name,
    );
    const route = bestMatch(candidates, calledNumber);
    if (!route) return { ok: false, reason: 'no_route', trunk, status: 404 };
    return { ok: true, trunk, route: route.route, routeIndex: route.index };
  }
}

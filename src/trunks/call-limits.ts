/** The CPS buckets and overflow policy that apply to one call, derived from config. */
import type { RouteConfig, TrunkConfig } from '../config/index.js';
import { type CpsKeyLimit, cpsKeys, type OverflowPolicy } from './cps.js';

interface CallCpsLimits {
  limits: CpsKeyLimit[];
  /** The route's overflow policy when the route has its own limit, else the trunk's. */
  overflow: OverflowPolicy;
}

/**
 * Buckets for a call on `trunk` to `calledNumber`: the trunk's, the number's (when the trunk
 * sets `cps.perNumber`) and, for inbound calls, the route's (when the route sets `cps`).
 * `routeId` names the route's bucket; the gateway passes the route index or its match text.
 */
export function callCpsLimits(
  trunk: TrunkConfig,
  calledNumber: string,
  route?: { id: string; config: RouteConfig },
): CallCpsLimits {
  const limits: CpsKeyLimit[] = [
    { key: cpsKeys.trunk(trunk.name), rate: trunk.cps.rate, burst: trunk.cps.burst },
  ];
  const perNumber = trunk.cps.perNumber;
  if (perNumber) limits.push({ key: cpsKeys.number(trunk.name, calledNumber), ...perNumber });
  const routeCps = route?.config.cps;
  if (route && routeCps)
    limits.push({ key: cpsKeys.route(route.id), rate: routeCps.rate, burst: routeCps.burst });
  return { limits, overflow: routeCps?.overflow ?? trunk.cps.overflow };
}

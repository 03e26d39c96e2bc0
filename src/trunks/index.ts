export { type CallCpsLimits, callCpsLimits } from './call-limits.js';
export { addressToBigInt, CidrTable } from './cidr.js';
export { type CallSlot, ConcurrencyLimiter } from './concurrency.js';
export {
  type Admission,
  type BucketSnapshot,
  type CpsDecision,
  type CpsKeyLimit,
  CpsLimiter,
  type CpsStore,
  cpsKeys,
  MemoryCpsStore,
  type OverflowAction,
  type OverflowPolicy,
} from './cps.js';
export { CachingDns, type DnsClient, nodeDnsClient } from './dns.js';
export {
  type AttemptSample,
  emptyWindowTotals,
  GatewayHealth,
  type HealthSnapshot,
  type Liveness,
  type MediaSample,
  type MetricLevel,
  type MetricName,
  type MetricScore,
  type WindowTotals,
} from './health.js';
export { type InboundDecision, InboundMatcher } from './inbound.js';
export { MAX_TARGETS_PER_GATEWAY, ServerLocator } from './locate.js';
export { type CodecImpairment, type EModelInput, estimateMos, G711_PLC, mosFromR, rFactor } from './mos.js';
export { normalizeE164, type OutboundIdentity, outboundIdentity } from './numbers.js';
export {
  OptionsProber,
  type OptionsResult,
  type ProbeSnapshot,
  type ProbeTransition,
  type SendOptions,
} from './probe.js';
export { registrationContactUser } from './registration-contact.js';
export { HealthRegistry } from './registry.js';
export {
  type Attempt,
  type AttemptDestination,
  type AttemptOutcome,
  AttemptPlan,
  type AttemptRecord,
  attemptHealth,
  gatewayId,
  type HealthView,
  OutboundRouter,
  type PlanResult,
} from './router.js';
export type { GatewayTarget } from './targets.js';

export { callCpsLimits } from './call-limits.js';
export { CidrTable } from './cidr.js';
export { type CallSlot, ConcurrencyLimiter } from './concurrency.js';
export {
  type Admission,
  type BucketSnapshot,
  type CpsDecision,
  type CpsKeyLimit,
  CpsLimiter,
  type CpsStore,
  cpsBucketLabel,
  cpsKeys,
  MemoryCpsStore,
  type OverflowPolicy,
} from './cps.js';
export { CachingDns, type DnsClient, nodeDnsClient } from './dns.js';
export {
  type AttemptSample,
  emptyWindowTotals,
  GatewayHealth,
  type HealthSnapshot,
  MAX_RETRY_AFTER_MS,
  type MediaSample,
  type MetricName,
  type WindowTotals,
} from './health.js';
export {
  type InboundDecision,
  InboundMatcher,
  type InboundMatcherOptions,
  type InboundSource,
} from './inbound.js';
export {
  defaultSipPort,
  fixedTarget,
  type LocatedServer,
  MAX_TARGETS_PER_GATEWAY,
  ServerLocator,
} from './locate.js';
export { estimateMos, rFactor } from './mos.js';
export { inboundE164, normalizeE164, type OutboundIdentity, outboundIdentity } from './numbers.js';
export { OptionsProber, type OptionsResult, type ProbeTransition } from './probe.js';
export { registrationContactUser } from './registration-contact.js';
export { type GatewayHealthSummary, HealthRegistry } from './registry.js';
export {
  type Attempt,
  type AttemptDestination,
  type AttemptOutcome,
  AttemptPlan,
  type AttemptRecord,
  attemptHealth,
  gatewayId,
  gatewayName,
  type HealthView,
  OutboundRouter,
} from './router.js';
export type { GatewayTarget } from './targets.js';
export { priorityWeightedOrder } from './weighted-order.js';

export { CallSnapshots, type ClaimedCall, FIRST_GENERATION } from './call-snapshots.js';
export { Cluster, defaultApiUrl, defaultNodeId } from './cluster.js';
export { ClusterLeases, type ClusterSlot, type LeaseRequest } from './leases.js';
export { LocalShareCpsStore, shareOfCount } from './local-share.js';
export { type DelayHistogram, NodeLoad, OVERLOAD_SIGNALS, type OverloadThresholds } from './node-load.js';
export { RedisCpsStore } from './redis-cps-store.js';
export { type RedisErrorKind, RedisLink } from './redis-link.js';
export type { ShareableHealth } from './shared-health.js';
export { takeoverKeys } from './takeover-scripts.js';

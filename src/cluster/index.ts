export {
  CallSnapshots,
  type CallSnapshotsOptions,
  type ClaimedCall,
  type ClaimResult,
  type SnapshotWrite,
} from './call-snapshots.js';
export {
  type CallOwner,
  ClusterCalls,
  type ForwardResult,
  MAX_LISTED_CALLS,
} from './calls.js';
export { Cluster, type ClusterOptions, defaultApiUrl, defaultNodeId, type NodeInfo } from './cluster.js';
export { type ClusterCallEntry, ClusterLeases, type ClusterSlot, type LeaseRequest } from './leases.js';
export { type LocalShare, LocalShareCpsStore, shareOfCount } from './local-share.js';
export {
  type DelayHistogram,
  LOAD_HEADER,
  type NodeCondition,
  NodeLoad,
  type NodeLoadOptions,
  OVERLOAD_SIGNALS,
  type OverloadSignal,
  type OverloadThresholds,
  type ThreadUtilization,
  type TickCounts,
} from './node-load.js';
export { RedisCpsStore, type RedisCpsStoreOptions, type RedisFailurePolicy } from './redis-cps-store.js';
export { RedisLink, type RedisLinkEvents, type RedisLinkOptions } from './redis-link.js';
export { type ShareableHealth, SharedHealth } from './shared-health.js';
export { takeoverKeys } from './takeover-scripts.js';

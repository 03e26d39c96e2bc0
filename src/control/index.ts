export type {
  CallDetail,
  CallerIdRequest,
  CallList,
  CallLookupResult,
  CallOperationFailure,
  CallOperationResult,
  CallState,
  CallSummary,
  ControlBackend,
  CpsLimit,
  DrainStatus,
  OriginateRequest,
  RequestOrigin,
  StreamTargetRequest,
  TrunkRegistration,
} from './backend.js';
export { FORWARDED_HEADER } from './backend.js';
export { GatewayMetrics } from './metrics.js';
export { type ControlServerLimits, type ControlServerOptions, createControlServer } from './server.js';

export type {
  CallDetail,
  CallOperationResult,
  CallState,
  CallSummary,
  ControlBackend,
  CpsLimit,
  DrainStatus,
  OriginateRequest,
  StreamTargetRequest,
} from './backend.js';
export { GatewayMetrics } from './metrics.js';
export { type ControlServerOptions, createControlServer } from './server.js';

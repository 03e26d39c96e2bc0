export { type CallerIdConfig, callerIdSchema } from './caller-id-schema.js';
export { type CheckConfigIo, checkConfigMain } from './check-config.js';
export { defaultConfig } from './default.js';
export { ConfigError, type ConfigIssue, formatIssue, formatPath } from './errors.js';
export { mediaWorkerCount } from './gateway-sections.js';
export { gatewayJsonSchema, schemaFileText, trunkJsonSchema } from './json-schema.js';
export {
  type Env,
  loadConfig,
  loadSipProfiles,
  loadTrunkFile,
  makeSnapshot,
  type ParsedFile,
  type ParseResult,
  type PatchbayConfig,
  parseConfigText,
} from './loader.js';
export { ConfigManager, type ConfigManagerOptions, type ReloadResult } from './manager.js';
export type { OutboundGatewayConfig, RegisterConfig } from './outbound-schema.js';
export {
  type CallerIdentity,
  type Cidr,
  compileNumberPattern,
  matchesNumber,
  type NumberPattern,
  parseCallerIdentity,
  parseCidr,
  parseHostAndPort,
  patternSpecificity,
} from './patterns.js';
export {
  type ClusterConfig,
  type CpsConfig,
  type CpsLimit,
  type DnsCacheConfig,
  type DnsConfig,
  type GatewayFileConfig,
  type GatewayFileInput,
  gatewayFileSchema,
  HEALTH_HIGHER_IS_BETTER,
  type HealthConfig,
  type HealthMetricName,
  type InboundConfig,
  type OutboundConfig,
  type OverflowConfig,
  type ProbingConfig,
  type RouteConfig,
  type StreamTarget,
  type TakeoverConfig,
  type TrunkConfig,
  type TrunkFileInput,
  trunkSchema,
} from './schema.js';
export {
  BUILTIN_TARGET_PREFIX,
  checkedStreamTargetSchema,
  DEMO_BOT_URL,
  streamTargetSchema,
} from './stream-target-schema.js';
export { clientCertificateNames, requiresClientCert } from './tls-clients.js';

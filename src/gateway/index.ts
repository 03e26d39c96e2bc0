export { CALL_END_CAUSES, type CallEnd, type CallEndCause, type HangupParty } from './call-end.js';
export type { CallRecord } from './call-record.js';
export { Gateway, type GatewayOptions } from './gateway.js';
export { startMain } from './start.js';

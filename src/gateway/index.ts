export {
  CallController,
  type CallControllerEvents,
  type CallPorts,
  type OutboundRequest,
} from './call-controller.js';
export { CALL_END_CAUSES, type CallEnd, type CallEndCause, type HangupParty } from './call-end.js';
export type { AttemptRecord, CallMediaRecord, CallRecord } from './call-record.js';
export { Gateway, type GatewayOptions } from './gateway.js';
export type {
  BotConnector,
  BotStream,
  CallAdmission,
  CallMediaLeg,
  InboundPolicy,
  MediaLegFactory,
  OutboundDialer,
} from './ports.js';

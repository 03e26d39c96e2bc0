export {
  ALLOW,
  type Authorizer,
  checkSessionTimer,
  InboundSession,
  type OutboundOutcome,
  OutboundSession,
} from './call-legs.js';
export { Dialog, dialogKey, uriDestination } from './dialog.js';
export {
  type EndpointMessageOps,
  type EndpointTransport,
  type RequestHandler,
  SipEndpoint,
  type SipEndpointOptions,
} from './endpoint.js';
export { isToken, SipParseError, splitList } from './grammar.js';
export {
  canonicalHeaderName,
  type HeaderField,
  headerKey,
  type SipMessage,
  SipRequest,
  SipResponse,
} from './message.js';
export {
  addVia,
  createAck,
  createResponse,
  messageOps,
  newBranch,
  randomToken,
  reasonPhrase,
} from './message-ops.js';
export {
  DEFAULT_MAX_MESSAGE_BYTES,
  type ParseOptions,
  parseMessage,
  SipRequestError,
  serializeMessage,
} from './parser.js';
export * from './sdp.js';
export {
  DEFAULT_SESSION_TIMER,
  type OfferAnswer,
  type OfferAnswerer,
  Session,
  type SessionState,
  type SessionTimerConfig,
  type TerminationCause,
} from './session.js';
export { SipStreamParser, type StreamEvent } from './stream-parser.js';
export * from './transaction/index.js';
export {
  type ListenSpec,
  SipTransport,
  type SipTransportOptions,
  type TransportStats,
} from './transport/index.js';
export * from './types.js';
export {
  parseCSeq,
  parseHostPort,
  parseNameAddr,
  parseUri,
  parseVia,
  serializeNameAddr,
  serializeUri,
  serializeVia,
} from './uri.js';
export {
  type CallOptions,
  SipUserAgent,
  type UserAgentOptions,
  type UserAgentTransport,
} from './user-agent.js';
export {
  checkRequest,
  DEFAULT_CAPABILITIES,
  isResponseForUs,
  type Rejection,
  type UasCapabilities,
} from './validate.js';

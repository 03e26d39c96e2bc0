export {
  type Authorizer,
  InboundSession,
  type OutboundOutcome,
  OutboundSession,
} from './call-legs.js';
export {
  ANONYMOUS_FROM,
  callerIdHeaders,
  isAnonymous,
  readCallerIdentity,
  readPassedHeaders,
} from './caller-id.js';
export { Dialog, type DialogState } from './dialog.js';
export { DigestClient, DigestVerifier, pickChallenge } from './digest.js';
export { SipParseError } from './grammar.js';
export { type SipMessage, SipRequest, SipResponse } from './message.js';
export { randomToken, retryAfterSec } from './message-ops.js';
export type { PublicAddress } from './nat-mapping.js';
export { parseMessage, SipRequestError, serializeMessage } from './parser.js';
export { q850Reason, type SignalledReason, signalledReason } from './reason.js';
export {
  type RegistrarLink,
  type RegistrarNotFound,
  RegistrationClient,
  type RegistrationOptions,
  type RegistrationStatus,
} from './registration.js';
export { newSdesOffer, type SdesCrypto, type SdesOffer } from './sdes.js';
export {
  type AudioCodecName,
  createOffer,
  type MediaDescription,
  negotiateAnswer,
  nextVersion,
  offerAsAnswered,
  type ParseAnswerResult,
  parseAnswer,
  parseAnswerToOurs,
  sameDescription,
} from './sdp.js';
export { type OfferAnswerer, Session, type SessionEndReason, type TerminationCause } from './session.js';
export { glareRetryDelayMs } from './session-timer.js';
export { SipStreamParser } from './stream-parser.js';
export {
  type ListenSpec,
  SipTransport,
  type TcpCloseReason,
  type TlsClientPolicy,
  type TlsListenerOptions,
} from './transport/index.js';
export type { ShedReason, TransportAddress } from './types.js';
export {
  parseNameAddr,
  parseUri,
  parseVia,
  serializeNameAddr,
  serializeUri,
  uriHost,
  userPhoneParam,
} from './uri.js';
export { type CallOptions, type Exchanged, type HeldRequest, SipUserAgent } from './user-agent.js';
export { isResponseForUs } from './validate.js';

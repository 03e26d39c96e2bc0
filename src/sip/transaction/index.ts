export {
  DEFAULT_TIMER_PROFILE,
  type TimerProfile,
  Transaction,
  type TransactionEnd,
  type TransactionEndCause,
  type TransactionEvents,
  type TransactionState,
} from './base.js';
export { type ClientTransactionUser, InviteClientTransaction } from './invite-client.js';
export { InviteServerTransaction } from './invite-server.js';
export {
  type ClientTransaction,
  SERVER_TRANSACTION_BYTES,
  type ServerTransaction,
  TransactionManager,
  type TransactionMemoryLimits,
} from './manager.js';
export {
  BRANCH_MAGIC_COOKIE,
  type MessageFactory,
  type RequestView,
  type ResponseView,
} from './message-view.js';
export { NonInviteClientTransaction } from './non-invite-client.js';
export { NonInviteServerTransaction } from './non-invite-server.js';

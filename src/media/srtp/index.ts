export { AesCounterMode } from './aes-cm.js';
export { deriveKey, deriveSessionKeys, type SessionKeys } from './kdf.js';
export { REPLAY_WINDOW, ReplayWindow } from './replay.js';
export { type SrtpDropCounts, SrtpFilter, type SrtpStats } from './srtp-filter.js';
export { type SrtpDropReason, type SrtpKeying, SrtpSession } from './srtp-session.js';

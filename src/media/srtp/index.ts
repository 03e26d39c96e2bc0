export { AesCounterMode } from './aes-cm.js';
export { deriveCipherSessionKeys, deriveKey, deriveSessionKeys } from './kdf.js';
export { REPLAY_WINDOW } from './replay.js';
export { SrtpFilter, type SrtpStats } from './srtp-filter.js';
export { type SrtpKeying, type SrtpPosition, SrtpSession } from './srtp-session.js';

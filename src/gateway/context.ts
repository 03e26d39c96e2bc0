/** What the call flows need from the gateway, so inbound/outbound code stays out of its lifecycle. */
import type { PatchbayConfig, TrunkConfig } from '../config/index.js';
import type { GatewayMetrics } from '../control/metrics.js';
import type { MediaClock } from '../media/media-clock.js';
import type { PortAllocator } from '../media/rtp/index.js';
import type { Authorizer, InboundSession, SipUserAgent } from '../sip/index.js';
import type {
  ConcurrencyLimiter,
  CpsLimiter,
  HealthRegistry,
  InboundMatcher,
  OptionsProber,
  OutboundRouter,
} from '../trunks/index.js';
import type { Clock, Logger } from '../util/index.js';
import type { Call } from './call.js';
import type { AuthChallenge } from './digest-support.js';

export type HangupParty = NonNullable<Call['hangupBy']>;

export interface GatewayContext {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly ua: SipUserAgent;
  readonly mediaClock: MediaClock;
  readonly portAllocator: PortAllocator;
  /** Address RTP binds to, and the one written in SDP (publicAddress when set). */
  readonly mediaBindAddress: string;
  readonly mediaAddress: string;
  /** The `accountSid` of Twilio `start` messages. */
  readonly accountSid: string;
  readonly cps: CpsLimiter;
  readonly concurrency: ConcurrencyLimiter;
  readonly health: HealthRegistry;
  readonly prober: OptionsProber;
  config(): PatchbayConfig;
  inbound(): InboundMatcher;
  router(): OutboundRouter;
  /** `builtin:echo` → the embedded bot's ws:// URL; other URLs unchanged. */
  resolveTargetUrl(url: string): string;
  /** A 401 challenge when the trunk requires digest auth and the INVITE lacks valid credentials. */
  authenticate(trunk: TrunkConfig, session: InboundSession): AuthChallenge | undefined;
  /** Answers 401/407 challenges of an outbound trunk with its credentials. */
  digestAuthorizer(credentials: { username: string; password: string }): Authorizer;
  /** Adds a live call (false when the gateway is at maxCalls). */
  admit(call: Call): boolean;
  /** Ends a call from any side, once: BYE/CANCEL as needed, stream stop, media close, record. */
  endCall(call: Call, by: HangupParty, reason: string, sipStatus?: number): void;
}

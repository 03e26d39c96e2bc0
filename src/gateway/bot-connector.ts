/**
 * The real BotConnector: a WebSocket to the route's bot in its dialect, bridged to the call's
 * media leg. The bridge exists before the socket opens, so nothing the bot sends first is lost.
 */
import { BUILTIN_TARGET_PREFIX, type PatchbayConfig, type StreamTarget } from '../config/index.js';
import { createDialect, RateLimitedWarning, type StreamConnectionStats } from '../stream/index.js';
import { type Clock, type Logger, shownUrl } from '../util/index.js';
import { attachBot, type FrameLatencyProbe } from './bridge.js';
import type {
  BotCallInfo,
  BotConnector,
  BotHooks,
  BotStream,
  BotStreamStats,
  BridgeStats,
  CallMediaLeg,
} from './ports.js';

/** The `accountSid` of Twilio `start` messages. */
const ACCOUNT_SID = `AC${'0'.repeat(32)}`;

export interface WebSocketBotsOptions {
  clock: Clock;
  logger: Logger;
  /** The embedded demo bot's ws:// URL, when it runs (`builtin:echo` routes). */
  builtinUrl(): string | undefined;
  /** Caller-audio latency per frame (RTP arrival → bot socket write). */
  latency: FrameLatencyProbe;
}

export class WebSocketBots implements BotConnector {
  readonly #options: WebSocketBotsOptions;

  constructor(options: WebSocketBotsOptions) {
    this.#options = options;
  }

  connect(call: BotCallInfo, target: StreamTarget, leg: CallMediaLeg, hooks: BotHooks): BotStream {
    const { callerIdentity, resumed, ...info } = call;
    const logger = this.#options.logger.child({ callId: call.callSid });
    // A bot can send thousands of commands that cannot be carried out (bad DTMF) per second.
    const problems = new RateLimitedWarning<{ reason: string }>(
      logger,
      this.#options.clock,
      'bot command not carried out',
    );
    const { connection, bridge } = attachBot(
      leg,
      {
        url: resolveBotUrl(target.url, this.#options.builtinUrl),
        dialect: createDialect(target.dialect, target.sampleRate),
        call: {
          ...info,
          accountSid: ACCOUNT_SID,
          // The route's own parameters win over the caller's headers.
          customParameters: {
            ...callerIdentity,
            ...target.customParameters,
            ...(resumed ? { resumed: 'true' } : {}),
          },
        },
        clock: this.#options.clock,
        logger,
        connectTimeoutMs: target.connectTimeoutMs,
        ...(target.auth
          ? {
              auth:
                target.auth.type === 'bearer'
                  ? { kind: 'bearer' as const, token: target.auth.token }
                  : { kind: 'hmac' as const, secret: target.auth.secret },
            }
          : {}),
        reconnect: {
          policy: target.reconnect.maxAttempts > 0 ? 'reconnect' : 'hangup',
          maxRetries: target.reconnect.maxAttempts,
          backoffMs: target.reconnect.backoffMs,
        },
        onClosed: (reason) => hooks.gone(`stream ${reason}`),
      },
      {
        hangup: (reason) => hooks.hangup(reason),
        transfer: (uri) => hooks.transfer(uri),
        problem: (reason) => problems.warn({ reason }),
      },
      target.vad,
      this.#options.latency,
    );
    return {
      ready: connection.connect(),
      callerDtmf: (digit, durationMs) => bridge.onCallerDtmf(digit, durationMs),
      close: (reason) => connection.close(reason),
      stats: () => botStreamStats(bridge.stats(), connection.stats),
    };
  }
}

/** The bridge's figures and the socket's, as a call's record and `/v1/calls/:id` show them. */
function botStreamStats(bridge: BridgeStats, socket: Readonly<StreamConnectionStats>): BotStreamStats {
  return {
    ...bridge,
    socketPauses: socket.paused,
    callerFramesSent: socket.framesSent,
    callerFramesDropped: socket.droppedFrames,
    botMessages: socket.messagesReceived,
    botMessagesInvalid: socket.invalidMessages,
    botMessagesDropped: socket.messagesDropped,
    botMessagesAfterStop: socket.messagesAfterStop,
    controlDropped: socket.controlDropped,
    reconnects: socket.reconnects,
  };
}

/**
 * A bot target with the credentials of this node's route to the same URL, or none: how a
 * target that did not come with its own (a taken-over call's, a CPS reroute's) gets them, so a
 * route's token or secret only ever goes to that route's bot.
 */
export function targetWithCredentials(
  config: PatchbayConfig,
  target: Omit<StreamTarget, 'auth'>,
): StreamTarget {
  const route = config.gateway.routes.find((candidate) => candidate.target.url === target.url);
  return route?.target.auth ? { ...target, auth: route.target.auth } : target;
}

/** Every bot URL the config sends calls to: the routes' targets and the CPS reroutes. */
export function configuredBotUrls(config: PatchbayConfig): string[] {
  const urls = config.gateway.routes.flatMap((route) => [route.target.url, route.cps?.overflow.rerouteTo]);
  for (const trunk of config.trunks.values()) urls.push(trunk.cps.overflow.rerouteTo);
  return urls.filter((url): url is string => url !== undefined);
}

/**
 * A taken-over call's bot target as this node's config has it. The snapshot's URL is shown
 * without user info or query (either may hold a token); when it hid some, the URL is this
 * node's configured one that shows the same (the call's route's, when several do); undefined
 * when none does. Credentials as targetWithCredentials gives them.
 */
export function configuredTarget(
  config: PatchbayConfig,
  target: Omit<StreamTarget, 'auth'>,
  urlHidden: boolean,
  route: string | undefined,
): StreamTarget | undefined {
  if (!urlHidden) return targetWithCredentials(config, target);
  const urls = new Set(configuredBotUrls(config).filter((url) => shownUrl(url) === target.url));
  const url =
    urls.size === 1
      ? [...urls][0]
      : config.gateway.routes.find((candidate) => candidate.match === route && urls.has(candidate.target.url))
          ?.target.url;
  return url === undefined ? undefined : targetWithCredentials(config, { ...target, url });
}

/** A route's target URL, with `builtin:` ones the embedded demo bot's ws:// URL; throws when it is not running. */
export function resolveBotUrl(url: string, builtinUrl: () => string | undefined): string {
  if (!url.startsWith(BUILTIN_TARGET_PREFIX)) return url;
  const builtin = builtinUrl();
  if (!builtin) throw new Error(`${url} is not running`);
  return builtin;
}

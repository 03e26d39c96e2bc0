/**
 * The gateway's composition root for calls: the CallPorts every CallController is built from,
 * wired to this node's parts (media clock and RTP ports, bot connector, admission, trunk
 * matching, routing, digest). Limits are read through the config on each use, so a reload
 * applies to the next call.
 */
import type { PatchbayConfig, RegisterConfig } from '../config/index.js';
import type { GatewayMetrics } from '../control/index.js';
import { callMediaClock, type MediaClock, MediaLeg, PortAllocator, SendBatch } from '../media/index.js';
import type { SipUserAgent, TransportAddress } from '../sip/index.js';
import {
  type HealthRegistry,
  type InboundMatcher,
  type OutboundRouter,
  registrationContactUser,
} from '../trunks/index.js';
import type { Clock, Logger } from '../util/index.js';
import { targetWithCredentials, WebSocketBots } from './bot-connector.js';
import type { DigestSupport } from './digest-support.js';
import type { CallAdmission, CallPorts, InboundPolicy } from './ports.js';
import { registrarDestination, registrarServer } from './sip-tls.js';
import type { MediaWorkers } from './worker/media-workers.js';

export interface CallPortsParts {
  clock: Clock;
  logger: Logger;
  metrics: GatewayMetrics;
  config: () => PatchbayConfig;
  userAgent: SipUserAgent;
  media: CallMedia;
  /** Where RTP sockets bind, and the address SDP names. */
  bindAddress: string;
  mediaAddress: string;
  /** The embedded demo bot's URL, once started. */
  builtinBotUrl: () => string | undefined;
  admission: CallAdmission;
  /** The current matcher (replaced on reload). */
  inbound: () => InboundMatcher;
  digest: DigestSupport;
  router: OutboundRouter;
  health: HealthRegistry;
}

/** `media.workers` 0: the calls' media runs on this thread's own media clock and RTP ports. */
export interface ThreadMedia {
  workers?: undefined;
  mediaClock: MediaClock;
  sendBatch: SendBatch;
  portAllocator: PortAllocator;
}

/**
 * Where the calls' media runs: in media worker threads (`media.workers` > 0), which open the
 * legs and connect the bots, or on this thread.
 */
export type CallMedia = { workers: MediaWorkers } | ThreadMedia;

/** A media clock and the RTP port range for the calls on this thread. */
export function threadCallMedia(
  clock: Clock,
  logger: Logger,
  rtp: PatchbayConfig['gateway']['rtp'],
): ThreadMedia {
  return {
    mediaClock: callMediaClock(clock, logger, rtp.pacingLeadMs),
    sendBatch: new SendBatch(),
    portAllocator: new PortAllocator(rtp.portMin, rtp.portMax),
  };
}

export function buildCallPorts(parts: CallPortsParts): CallPorts {
  const { clock, logger, config, userAgent, digest, media } = parts;
  const limits = () => config().gateway.limits;
  return {
    clock,
    logger,
    mediaAddress: parts.mediaAddress,
    get maxDurationMs() {
      return limits().maxCallDurationSec * 1000;
    },
    get rtpInactivityMs() {
      return limits().rtpInactivityTimeoutSec * 1000;
    },
    mediaLegs: media.workers ?? {
      open: (callId, bridgeRate, { jitterBuffer, encryption }, continueFrom) =>
        MediaLeg.open({
          ...(continueFrom ? { continueFrom } : {}),
          portAllocator: media.portAllocator,
          bindAddress: parts.bindAddress,
          clock,
          mediaClock: media.mediaClock,
          sendBatch: media.sendBatch,
          logger: logger.child({ callId }),
          bridgeRate,
          jitterBuffer,
          encryption,
        }),
    },
    bots:
      media.workers ??
      new WebSocketBots({
        clock,
        logger,
        builtinUrl: parts.builtinBotUrl,
        latency: {
          now: () => clock.now(),
          observe: (seconds) => parts.metrics.rtpToWebSocketLatency.observe(seconds),
        },
      }),
    admission: parts.admission,
    inbound: inboundPolicy(parts.inbound, digest, config),
    outbound: {
      plan: (trunk) => parts.router.plan(trunk),
      trunk: (name) => {
        const trunk = config().trunks.get(name);
        return trunk?.outbound ? trunk : undefined;
      },
      health: (gatewayId) => parts.health.get(gatewayId),
      dial: trunkDialer(userAgent, digest),
    },
  };
}

/**
 * Dials an attempt through `userAgent`, answering its 401/407 with the trunk's `outbound.auth`.
 * A trunk that registers from behind a NAT calls with its Contact where the registrar sees us,
 * where that address can reach us (registrationContactReaches).
 */
export function trunkDialer(userAgent: SipUserAgent, digest: DigestSupport): CallPorts['outbound']['dial'] {
  return (trunk, options) => {
    const register = trunk.outbound?.register;
    const contactAt =
      register &&
      registrationContactReaches(register, options.destination) &&
      userAgent.contactAddressOf(registrationContactUser(trunk.name, register));
    return userAgent.call({
      ...options,
      ...(trunk.outbound?.auth ? { authorize: digest.authorizer(trunk.outbound.auth) } : {}),
      ...(contactAt ? { contactAt } : {}),
    });
  };
}

/**
 * Whether a call to `destination` can be answered at the public address our registration moved
 * to: only over the registration's own transport (the mapping is of that socket), and over TCP
 * or TLS only to the registrar itself, since the public end of a connection is reached over
 * that connection alone; a NAT's UDP mapping other hosts may use too.
 */
function registrationContactReaches(register: RegisterConfig, destination: TransportAddress): boolean {
  if (destination.transport !== register.transport) return false;
  if (destination.transport === 'udp') return true;
  const registrar = registrarServer(register.registrar);
  if (!registrar) return false;
  const { address, port } = registrarDestination(registrar, register.transport);
  return destination.port === port && (destination.address === address || destination.serverName === address);
}

/** Inbound calls' matching and authentication, with the configuration as it is now (reloads). */
export function inboundPolicy(
  matcher: () => InboundMatcher,
  digest: DigestSupport,
  config: () => PatchbayConfig,
): InboundPolicy {
  return {
    numbersOf: (sourceAddress, requestUser, toUser, fromUser) =>
      matcher().numbersOf(sourceAddress, requestUser, toUser, fromUser),
    match: (source, called, requestUser) => matcher().match(source, called, requestUser),
    authenticate: (trunk, invite) => digest.challengeInbound(trunk, invite),
    streamTarget: (routeTarget, cps) => {
      if (cps.action !== 'reroute') return routeTarget;
      const { auth: _refusingRoutes, ...target } = routeTarget;
      return targetWithCredentials(config(), { ...target, url: cps.target });
    },
  };
}

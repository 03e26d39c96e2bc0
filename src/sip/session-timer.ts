/**
 * RFC 4028 session timers, the rules apart from the session that runs them: the Session-Expires
 * and Min-SE headers, what our 2xx says of the timer (§9), what a 422 to our refresh asks for
 * (§7.3), and the RFC 3261 §14.1 wait before a re-INVITE that met glare is sent again.
 */
import { randomInt } from 'node:crypto';
import type { SipRequest, SipResponse } from './message.js';
import type { Rejection } from './validate.js';

export interface SessionTimerConfig {
  /** Session-Expires we ask for (RFC 4028 §4; default 1800 s). */
  expires: number;
  /** Smallest interval we accept (Min-SE, at least 90 s, §5). */
  minSE: number;
}

export const DEFAULT_SESSION_TIMER: SessionTimerConfig = { expires: 1800, minSE: 90 };

/**
 * RFC 4028 §5/§8.1: a Session-Expires below our Min-SE, in an INVITE or a refresh (re-INVITE,
 * UPDATE), is refused with 422 and our Min-SE;
 * one that is not delta-seconds with parameters is a malformed request (RFC 3261 §21.4.1).
 */
export function checkSessionTimer(
  request: SipRequest,
  config = DEFAULT_SESSION_TIMER,
): Rejection | undefined {
  const header = request.get('session-expires');
  if (header === undefined) return undefined;
  const expires = parseSessionExpires(header);
  if (!expires) return { status: 400 };
  if (expires.interval < config.minSE) return { status: 422, headers: [['Min-SE', String(config.minSE)]] };
  return undefined;
}

/**
 * The longest interval a timer holds (2^31 - 1 ms): a longer Session-Expires would fire at
 * once. Reading a longer one as this is a reduction, which RFC 4028 §9 allows a UAS.
 */
const MAX_SESSION_INTERVAL = Math.floor(0x7fffffff / 1000);

export interface SessionExpires {
  /** delta-seconds, at most MAX_SESSION_INTERVAL. */
  interval: number;
  refresher: 'uac' | 'uas' | undefined;
}

/**
 * Session-Expires (RFC 4028 §4): `delta-seconds *(SEMI se-params)`, se-params being
 * `refresher=uac|uas` or a generic-param. Min-SE has the same shape without refresher, so
 * `interval` is its value too. Undefined when the header is absent or malformed.
 */
export function parseSessionExpires(value: string | undefined): SessionExpires | undefined {
  if (value === undefined) return undefined;
  const [delta = '', ...params] = value.split(';');
  if (!/^\s*\d{1,10}\s*$/.test(delta)) return undefined;
  let refresher: SessionExpires['refresher'];
  for (const param of params) {
    const [name = '', paramValue = ''] = param.split('=').map((part) => part.trim().toLowerCase());
    if (name === 'refresher' && (paramValue === 'uac' || paramValue === 'uas')) refresher = paramValue;
  }
  return { interval: Math.min(Number(delta), MAX_SESSION_INTERVAL), refresher };
}

export function formatSessionExpires(interval: number, refresher: 'uac' | 'uas'): string {
  return `${interval};refresher=${refresher}`;
}

/** What our 2xx says of the session timer: its Session-Expires, and whether it carries Require: timer. */
export interface TimerAnswer {
  interval: number;
  refresher: 'uac' | 'uas';
  require: boolean;
}

/**
 * RFC 4028 §9: the timer our 2xx to an INVITE or a refresh (re-INVITE, UPDATE) sets. A requested
 * interval is taken, never below our Min-SE. A UAC that supports timers keeps the refresher it
 * chose (itself when it chose none) and is told Require: timer; one that does not (a proxy put
 * Session-Expires in) cannot refresh, so we do. A refresh without Session-Expires while a timer
 * runs (`current`, its interval) would turn it off (§7.2); the UAS may ask for one instead, and
 * keeps it with itself as the refresher, so a peer that died is still found.
 */
export function answerSessionTimer(
  request: SipRequest,
  minSE: number,
  current?: number,
): TimerAnswer | undefined {
  const requested = parseSessionExpires(request.get('session-expires'));
  if (!requested)
    return current === undefined ? undefined : { interval: current, refresher: 'uas', require: false };
  const supported = request.listValues('supported').includes('timer');
  return {
    interval: Math.max(requested.interval, minSE),
    refresher: supported ? (requested.refresher ?? 'uac') : 'uas',
    require: supported,
  };
}

/** The Min-SE of a 422 (RFC 4028 §6): the interval a request is to be sent again with; undefined without one. */
export function minSEOf(response: SipResponse): number | undefined {
  if (response.status !== 422) return undefined;
  const minSE = parseSessionExpires(response.get('min-se'))?.interval;
  return minSE !== undefined && minSE > 0 ? minSE : undefined;
}

/**
 * RFC 3261 §14.1: after a 491 to a re-INVITE, the wait before it is sent again, in units of
 * 10 ms: 2.1-4 s for the side that made the dialog's Call-ID, 0-2 s for the other.
 */
export function glareRetryDelayMs(ownsCallId: boolean): number {
  return ownsCallId ? 2100 + 10 * randomInt(191) : 10 * randomInt(201);
}

/**
 * Two real SipUserAgents on one FakeClock, joined by an in-memory UDP network that serializes
 * and re-parses every message, with the helpers session tests share: offers and an answerer,
 * virtual-time stepping and wire-log filters.
 */
import assert from 'node:assert/strict';
import type { InboundSession, OutboundSession } from '../../../src/sip/call-legs.js';
import type { SipMessage } from '../../../src/sip/message.js';
import {
  createOffer,
  createReoffer,
  type MediaDirection,
  negotiateAnswer,
  nextVersion,
} from '../../../src/sip/sdp.js';
import type {
  OfferAnswerer,
  Session,
  SessionTimerConfig,
  TerminationCause,
} from '../../../src/sip/session.js';
import type { TransportAddress } from '../../../src/sip/types.js';
import { type CallOptions, SipUserAgent } from '../../../src/sip/user-agent.js';
import { FakeClock, silentLogger } from '../../../src/util/index.js';
import { MemoryNetwork, type WireRecord } from './memory-transport.js';

export const ALICE: TransportAddress = { transport: 'udp', address: '127.0.0.1', port: 5060 };
export const BOB: TransportAddress = { transport: 'udp', address: '127.0.0.1', port: 5070 };
export const T1 = 500;
export const T2 = 4000;

export function offer(direction: MediaDirection = 'sendrecv', previous?: string): string {
  const options = { address: '127.0.0.1', port: 40000, codecs: ['PCMU' as const], direction };
  return previous
    ? createReoffer(previous, options)
    : createOffer({ ...options, sessionId: 1, sessionVersion: 1 });
}

export function originVersion(sdp: string | undefined): number {
  return Number(/^o=\S+ \S+ (\d+)/m.exec(sdp ?? '')?.[1]);
}

export function direction(sdp: string | undefined): string | undefined {
  return /^a=(sendrecv|sendonly|recvonly|inactive)\s*$/m.exec(sdp ?? '')?.[1];
}

/**
 * An answerer keeping its o= session id across the dialog; the version goes up by one only
 * when the answer changes (RFC 3264 §8), so a session refresh with the same offer keeps it.
 */
export function answerer(): OfferAnswerer {
  let previous: string | undefined;
  return (offerSdp) => {
    const local = { address: '127.0.0.1', port: 50000, preferences: ['PCMU' as const] };
    const origin = previous ? nextVersion(previous) : { sessionId: '2', sessionVersion: 1 };
    const result = negotiateAnswer(offerSdp, { ...local, ...origin });
    if (!result.ok) return { status: result.status };
    const unchanged = previous !== undefined && withoutOrigin(previous) === withoutOrigin(result.answer);
    if (!unchanged) previous = result.answer;
    return { sdp: previous ?? result.answer };
  };
}

export function withoutOrigin(sdp: string): string {
  return sdp.replace(/^o=.*$/m, '');
}

/** Lets every queued delivery (microtasks) and the promise chains they start run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Advances virtual time in steps, delivering messages between steps. */
export async function run(clock: FakeClock, ms: number, step = 10): Promise<void> {
  for (let done = 0; done < ms; done += step) {
    clock.advance(Math.min(step, ms - done));
    await flush();
  }
}

export const isRequest = (method: string) => (record: WireRecord) =>
  record.message.isRequest && record.message.method === method;
export const isResponse = (status: number, method: string) => (record: WireRecord) =>
  !record.message.isRequest && record.message.status === status && record.message.cseq().method === method;
/** An in-dialog request (it has a To tag). */
export const inDialog = (method: string) => (message: SipMessage) =>
  message.isRequest && message.method === method && message.toTag() !== undefined;

/** A network drop rule that loses the first message `match` accepts, and only that one. */
export function dropFirst(match: (message: SipMessage) => boolean): (message: SipMessage) => boolean {
  let dropped = false;
  return (message) => {
    if (dropped || !match(message)) return false;
    dropped = true;
    return true;
  };
}

/** Makes the peer look like one that does not take UPDATE. */
export const withoutUpdateInAllow = (message: SipMessage): void => {
  const allow = message.get('allow');
  if (allow) message.set('Allow', allow.replace(/,\s*UPDATE\b|\bUPDATE\s*,\s*/i, ''));
};

/**
 * A `garble` rule that breaks the Contact of the 200s to `method` (the first `times` of them),
 * so they no longer parse (RFC 3261 §12.1.2: the Contact is the dialog's remote target).
 */
export function breakContactOf200(method: string, times = Number.POSITIVE_INFINITY) {
  let left = times;
  return (bytes: Buffer): Buffer | undefined => {
    const text = bytes.toString('latin1');
    if (
      left === 0 ||
      !text.startsWith('SIP/2.0 200') ||
      !new RegExp(`^CSeq: \\d+ ${method}\r$`, 'm').test(text)
    )
      return undefined;
    left--;
    return Buffer.from(text.replace(/^Contact: <([^>]*)>/m, 'Contact: <$1'), 'latin1');
  };
}

/**
 * A `garble` rule that gives the final responses to `method` other status lines: the next of
 * `statuses` (`'404 Not Found'`) each, until they run out.
 */
export function answerAs(method: string, statuses: string[]) {
  const left = [...statuses];
  return (bytes: Buffer): Buffer | undefined => {
    const text = bytes.toString('latin1');
    if (!/^SIP\/2\.0 [2-6]\d\d /.test(text) || !new RegExp(`^CSeq: \\d+ ${method}\r$`, 'm').test(text))
      return undefined;
    const status = left.shift();
    if (status === undefined) return undefined;
    return Buffer.from(text.replace(/^SIP\/2\.0 [^\r]*/, `SIP/2.0 ${status}`), 'latin1');
  };
}

export interface Setup {
  uacTimer?: SessionTimerConfig;
  uasTimer?: SessionTimerConfig;
  /** The UAS's INVITE handler; by default it collects the sessions in `incoming`. */
  onInvite?: (session: InboundSession) => void;
  /** Both user agents on this transport (default udp; tcp is reliable: no retransmissions). */
  transport?: TransportAddress['transport'];
}

const cleanups: Array<() => void> = [];

/** Closes the user agents of every `setup()` so far and checks the network saw no errors. */
export function closePairs(): void {
  for (const cleanup of cleanups.splice(0)) cleanup();
}

export function setup(options: Setup = {}) {
  const clock = new FakeClock();
  const network = new MemoryNetwork(clock);
  const incoming: InboundSession[] = [];
  const agent = (local: TransportAddress, sessionTimer?: SessionTimerConfig) =>
    new SipUserAgent({
      transport: network.bind(local),
      clock,
      logger: silentLogger,
      ...(sessionTimer ? { sessionTimer } : {}),
      onInvite: options.onInvite ?? ((session) => incoming.push(session)),
    });
  const transport = options.transport ?? 'udp';
  const bob = { ...BOB, transport };
  const uac = agent({ ...ALICE, transport }, options.uacTimer);
  const uas = agent(bob, options.uasTimer);
  cleanups.push(() => {
    uac.close();
    uas.close();
    assert.deepEqual(network.errors, []);
  });
  const call = (extra: Partial<CallOptions> = {}): OutboundSession =>
    uac.call({
      requestUri: 'sip:bob@127.0.0.1:5070',
      destination: bob,
      from: '"Alice" <sip:alice@127.0.0.1>',
      to: '<sip:bob@127.0.0.1>',
      sdp: offer(),
      ...extra,
    });
  /** Call, receive the INVITE at the UAS and return it with the UAC session. */
  const ring = async (extra: Partial<CallOptions> = {}) => {
    const outbound = call(extra);
    await flush();
    const inbound = incoming.at(-1);
    assert.ok(inbound, 'the UAS got the INVITE');
    return { outbound, inbound };
  };
  /**
   * A confirmed call. The UAS answers the INVITE with `answerer()` and later offers with what
   * `reoffers` makes of that answerer (by default the answerer itself).
   */
  const answered = async (
    extra: Partial<CallOptions> = {},
    reoffers: (initial: OfferAnswerer) => OfferAnswerer | undefined = (initial) => initial,
  ) => {
    const { outbound, inbound } = await ring(extra);
    const answer = answerer();
    const first = answer(inbound.remoteSdp ?? '', inbound.invite);
    assert.ok('sdp' in first);
    inbound.accept(first.sdp, reoffers(answer));
    await flush();
    const outcome = await outbound.outcome;
    assert.equal(outcome.kind, 'answered');
    return { outbound, inbound };
  };
  return { clock, network, uac, uas, incoming, call, ring, answered };
}

export function causeOf(session: Session): Promise<TerminationCause> {
  return new Promise((resolve) => session.once('terminated', resolve));
}

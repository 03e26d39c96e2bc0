/**
 * How each transaction ends: the typed end it is left with and its one `ended` event, for every
 * cause. Completion after the last wait (Timers D, I, J, K, L, M), a timeout (Timers B, C, F, H),
 * a transport error (RFC 3261 §17.1.4, §17.2.4) and an abort by the TU. FakeClock throughout.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_TIMER_PROFILE,
  type Transaction,
  type TransactionEnd,
} from '../../src/sip/transaction/index.js';
import type { FakeClock } from '../../src/util/index.js';
import { inviteClient, inviteServer, nonInviteClient, nonInviteServer } from './helpers/transactions.js';

const COMPLETED: TransactionEnd = { cause: 'completed' };

/** Terminated with this one end, told once; nothing left armed. */
function assertEnded(
  seen: { clock: FakeClock; tx: Transaction; ends: TransactionEnd[] },
  end: TransactionEnd,
) {
  assert.equal(seen.tx.state, 'terminated');
  assert.deepEqual(seen.ends, [end]);
  assert.deepEqual(seen.tx.end, end);
  assert.equal(seen.tx.activeTimers, 0);
  assert.equal(seen.clock.pendingTimers(), 0);
}

describe('transaction ends: completed', () => {
  it('INVITE client: Timer D after a non-2xx final, Timer M after a 2xx', () => {
    const rejected = inviteClient(false);
    rejected.tx.receiveResponse({ status: 486 });
    rejected.clock.advance(31_999);
    assert.equal(rejected.tx.end, undefined, 'no end before Terminated');
    rejected.clock.advance(1);
    assertEnded(rejected, COMPLETED);

    const accepted = inviteClient(false);
    accepted.tx.receiveResponse({ status: 200 });
    accepted.clock.advance(32_000);
    assertEnded(accepted, COMPLETED);
  });

  it('non-INVITE client: Timer K', () => {
    const seen = nonInviteClient(false);
    seen.tx.receiveResponse({ status: 200 });
    seen.clock.advance(5_000);
    assertEnded(seen, COMPLETED);
  });

  it('INVITE server: Timer I after the ACK, Timer L after a 2xx', () => {
    const confirmed = inviteServer(false);
    confirmed.tx.respond({ status: 486 });
    confirmed.tx.receiveAck();
    confirmed.clock.advance(5_000);
    assertEnded(confirmed, COMPLETED);

    const accepted = inviteServer(false);
    accepted.tx.respond({ status: 200 });
    accepted.clock.advance(32_000);
    assertEnded(accepted, COMPLETED);
  });

  it('non-INVITE server: Timer J, the end readable by a listener of the Terminated state', () => {
    const seen = nonInviteServer(false);
    const atTerminated: (TransactionEnd | undefined)[] = [];
    seen.tx.on('state', (state) => {
      if (state === 'terminated') atTerminated.push(seen.tx.end);
    });
    seen.tx.respond({ status: 200 });
    seen.clock.advance(32_000);
    assertEnded(seen, COMPLETED);
    assert.deepEqual(atTerminated, [COMPLETED]);
  });
});

describe('transaction ends: timeout', () => {
  it('INVITE client: Timer B, then the TU is told', () => {
    const seen = inviteClient(false);
    seen.clock.advance(32_000);
    assertEnded(seen, { cause: 'timeout', detail: 'Timer B' });
    assert.deepEqual(seen.events, ['timeout']);
  });

  it('INVITE client: the bound on Proceeding (Timer C here)', () => {
    const seen = inviteClient(false, { profile: { ...DEFAULT_TIMER_PROFILE, proceedingTimeout: 60_000 } });
    seen.tx.receiveResponse({ status: 180 });
    seen.clock.advance(60_000);
    assertEnded(seen, { cause: 'timeout', detail: 'Timer C: no final response while Proceeding' });
  });

  it('non-INVITE client: Timer F', () => {
    const seen = nonInviteClient(false);
    seen.clock.advance(32_000);
    assertEnded(seen, { cause: 'timeout', detail: 'Timer F' });
  });

  it('INVITE server: Timer H without an ACK', () => {
    const seen = inviteServer(false);
    seen.tx.respond({ status: 603 });
    seen.clock.advance(32_000);
    assertEnded(seen, { cause: 'timeout', detail: 'Timer H' });
  });
});

describe('transaction ends: transport_error', () => {
  it('client: a rejected send ends it with the error as detail, then the TU is told', async () => {
    const seen = inviteClient(false, { send: () => Promise.reject(new Error('ECONNREFUSED')) });
    await Promise.resolve();
    assertEnded(seen, { cause: 'transport_error', detail: 'ECONNREFUSED' });
    assert.deepEqual(seen.events, ['transport-error']);
  });

  it('non-INVITE client: a send that throws leaves no timer armed', () => {
    const seen = nonInviteClient(false, {
      send: () => {
        throw new Error('no route');
      },
    });
    assertEnded(seen, { cause: 'transport_error', detail: 'no route' });
  });

  it('server: a response that cannot be sent (RFC 3261 §17.2.4)', async () => {
    const invite = inviteServer(false, { send: () => Promise.reject(new Error('EPIPE')) });
    invite.tx.respond({ status: 180 });
    await Promise.resolve();
    assertEnded(invite, { cause: 'transport_error', detail: 'EPIPE' });

    const bye = nonInviteServer(false, { send: () => Promise.reject('reset') });
    bye.tx.respond({ status: 200 });
    await Promise.resolve();
    assertEnded(bye, { cause: 'transport_error', detail: 'reset' });
  });
});

describe('transaction ends: aborted', () => {
  it('terminate() by the TU, with or without detail; the first end stands', async () => {
    let fail: (error: Error) => void = () => undefined;
    const seen = inviteClient(false, { send: () => new Promise((_resolve, reject) => (fail = reject)) });
    seen.tx.terminate();
    assertEnded(seen, { cause: 'aborted' });
    seen.tx.terminate('again');
    fail(new Error('late'));
    await Promise.resolve();
    seen.clock.advance(64_000);
    assertEnded(seen, { cause: 'aborted' });
    assert.deepEqual(seen.events, [], 'nothing reaches the TU after the end');

    const server = nonInviteServer(false);
    server.tx.terminate('shutting down');
    assertEnded(server, { cause: 'aborted', detail: 'shutting down' });
  });
});

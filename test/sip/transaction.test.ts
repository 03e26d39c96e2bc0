import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inviteClient, inviteServer, nonInviteClient, nonInviteServer } from './helpers/transactions.js';

describe('INVITE client transaction (RFC 3261 §17.1.1, RFC 6026)', () => {
  it('retransmits on Timer A doubling without cap and times out on Timer B at 64*T1', () => {
    const { clock, sent, states, events, tx } = inviteClient(false);
    clock.advance(40_000);
    assert.deepEqual(
      sent.map((s) => s.at),
      [0, 500, 1500, 3500, 7500, 15500, 31500],
    );
    assert.deepEqual(events, ['timeout']);
    assert.deepEqual(states, ['calling', 'terminated']);
    assert.equal(tx.activeTimers, 0);
    assert.equal(clock.pendingTimers(), 0);
  });

  it('does not start Timer A on a reliable transport', () => {
    const { clock, sent, events } = inviteClient(true);
    clock.advance(32_000);
    assert.equal(sent.length, 1);
    assert.deepEqual(events, ['timeout']);
  });

  it('1xx stops retransmissions; Timer B is ignored once Proceeding', () => {
    const { clock, sent, states, events, tx } = inviteClient(false);
    clock.advance(600);
    tx.receiveResponse({ status: 180 });
    clock.advance(40_000);
    assert.equal(sent.length, 2);
    assert.deepEqual(events, ['prov 180']);
    assert.deepEqual(states, ['calling', 'proceeding']);
  });

  it('gives up after the proceeding timeout when no final response ever comes', () => {
    const { clock, events, tx } = inviteClient(false);
    clock.advance(100);
    tx.receiveResponse({ status: 180 });
    clock.advance(179_999);
    assert.equal(tx.state, 'proceeding');
    clock.advance(1);
    assert.deepEqual(events, ['prov 180', 'timeout']);
    assert.equal(clock.pendingTimers(), 0);
  });

  it('ACKs a non-2xx final itself, re-ACKs retransmissions, and ends after Timer D (32 s)', () => {
    const { clock, sent, states, events, tx } = inviteClient(false);
    tx.receiveResponse({ status: 100 });
    clock.advance(1000);
    tx.receiveResponse({ status: 486 });
    clock.advance(5000);
    tx.receiveResponse({ status: 486 });
    assert.deepEqual(
      sent.map((s) => `${s.at} ${s.message}`),
      ['0 INVITE', '1000 ACK/486', '6000 ACK/486'],
    );
    assert.deepEqual(events, ['prov 100', 'final 486']);
    clock.advance(26_999); // Timer D was armed at t=1000
    assert.equal(tx.state, 'completed');
    clock.advance(1);
    assert.deepEqual(states, ['calling', 'proceeding', 'completed', 'terminated']);
  });

  it('Timer D is zero on reliable transports', () => {
    const { clock, tx } = inviteClient(true);
    tx.receiveResponse({ status: 503 });
    assert.equal(tx.state, 'completed');
    clock.advance(0);
    assert.equal(tx.state, 'terminated');
  });

  it('2xx enters Accepted, passes 2xx retransmissions to the TU, ends on Timer M', () => {
    const { clock, sent, states, events, tx } = inviteClient(false);
    tx.receiveResponse({ status: 200 });
    clock.advance(4000);
    tx.receiveResponse({ status: 200 });
    tx.receiveResponse({ status: 486 });
    assert.equal(sent.length, 1, 'no ACK for 2xx from the transaction');
    assert.deepEqual(events, ['final 200', 'final 200']);
    clock.advance(27_999);
    assert.equal(tx.state, 'accepted');
    clock.advance(1);
    assert.deepEqual(states, ['calling', 'accepted', 'terminated']);
  });

  it('a transport failure terminates and tells the TU', async () => {
    const { clock, events, tx } = inviteClient(false, {
      send: () => Promise.reject(new Error('EHOSTUNREACH')),
    });
    await Promise.resolve();
    assert.deepEqual(events, ['transport-error']);
    assert.equal(tx.state, 'terminated');
    assert.equal(clock.pendingTimers(), 0);
  });
});

describe('non-INVITE client transaction (RFC 3261 §17.1.2)', () => {
  it('Timer E doubles up to T2, Timer F times out at 64*T1', () => {
    const { clock, sent, states, events } = nonInviteClient(false);
    clock.advance(40_000);
    assert.deepEqual(
      sent.map((s) => s.at),
      [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500],
    );
    assert.deepEqual(events, ['timeout']);
    assert.deepEqual(states, ['trying', 'terminated']);
  });

  it('retransmits every T2 once Proceeding', () => {
    const { clock, sent, tx } = nonInviteClient(false);
    clock.advance(100);
    tx.receiveResponse({ status: 100 });
    clock.advance(12_000);
    // Fires at 500 (then next interval T2 because Proceeding), 4500, 8500, 12500 > 12100.
    assert.deepEqual(
      sent.map((s) => s.at),
      [0, 500, 4500, 8500],
    );
  });

  it('final response completes; Timer K = T4 absorbs retransmissions', () => {
    const { clock, sent, states, events, tx } = nonInviteClient(false);
    tx.receiveResponse({ status: 200 });
    tx.receiveResponse({ status: 200 });
    clock.advance(4999);
    assert.equal(tx.state, 'completed');
    clock.advance(1);
    assert.deepEqual(states, ['trying', 'completed', 'terminated']);
    assert.deepEqual(events, ['final 200']);
    assert.equal(sent.length, 1);
  });

  it('reliable: no Timer E and Timer K is zero', () => {
    const { clock, sent, tx } = nonInviteClient(true);
    clock.advance(10_000);
    assert.equal(sent.length, 1);
    tx.receiveResponse({ status: 404 });
    clock.advance(0);
    assert.equal(tx.state, 'terminated');
  });
});

describe('INVITE server transaction (RFC 3261 §17.2.1, RFC 6026)', () => {
  it('sends 100 Trying after 200 ms when the TU is silent, and re-sends it on retransmission', () => {
    const { clock, sent, tx } = inviteServer(false);
    clock.advance(199);
    assert.equal(sent.length, 0);
    clock.advance(1);
    tx.receiveRetransmission();
    assert.deepEqual(
      sent.map((s) => `${s.at} ${s.message}`),
      ['200 100', '200 100'],
    );
  });

  it('no automatic 100 when the TU answered first', () => {
    const { clock, sent, tx } = inviteServer(false);
    tx.respond({ status: 180 });
    clock.advance(1000);
    assert.deepEqual(
      sent.map((s) => s.message),
      ['180'],
    );
  });

  it('non-2xx final: Timer G doubles to T2, ACK confirms, Timer I (T4) terminates', () => {
    const { clock, sent, states, tx } = inviteServer(false);
    tx.respond({ status: 486 });
    clock.advance(8000);
    assert.deepEqual(
      sent.map((s) => s.at),
      [0, 500, 1500, 3500, 7500],
    );
    assert.equal(tx.receiveAck(), false);
    clock.advance(4999);
    assert.equal(tx.state, 'confirmed');
    clock.advance(1);
    assert.deepEqual(states, ['proceeding', 'completed', 'confirmed', 'terminated']);
    assert.equal(sent.length, 5, 'no retransmission after the ACK');
  });

  it('Timer H fires at 64*T1 without an ACK and tells the TU', () => {
    const { clock, sent, ends, tx } = inviteServer(false);
    tx.respond({ status: 603 });
    clock.advance(32_000);
    assert.deepEqual(ends, [{ cause: 'timeout', detail: 'Timer H' }]);
    assert.equal(tx.state, 'terminated');
    assert.deepEqual(
      sent.map((s) => s.at),
      [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500],
    );
  });

  it('reliable: no Timer G, Timer I is zero', () => {
    const { clock, sent, tx } = inviteServer(true);
    tx.respond({ status: 486 });
    clock.advance(10_000);
    assert.equal(sent.length, 1);
    tx.receiveAck();
    clock.advance(0);
    assert.equal(tx.state, 'terminated');
  });

  it('2xx enters Accepted: absorbs INVITE retransmissions, lets the TU resend 2xx, passes the ACK up, ends on Timer L', () => {
    const { clock, sent, states, tx } = inviteServer(false);
    tx.respond({ status: 200 });
    tx.receiveRetransmission();
    tx.respond({ status: 200 });
    assert.equal(tx.receiveAck(), true);
    assert.equal(sent.length, 2);
    clock.advance(31_999);
    assert.equal(tx.state, 'accepted');
    clock.advance(1);
    assert.deepEqual(states, ['proceeding', 'accepted', 'terminated']);
  });

  it('refuses a response after completion', () => {
    const { tx } = inviteServer(false);
    tx.respond({ status: 486 });
    assert.throws(() => tx.respond({ status: 200 }), RangeError);
  });
});

describe('non-INVITE server transaction (RFC 3261 §17.2.2)', () => {
  it('Trying absorbs retransmissions, Proceeding and Completed re-send the last response, Timer J = 64*T1', () => {
    const { clock, sent, states, tx } = nonInviteServer(false);
    tx.receiveRetransmission();
    tx.respond({ status: 100 });
    tx.receiveRetransmission();
    tx.respond({ status: 200 });
    tx.receiveRetransmission();
    assert.deepEqual(
      sent.map((s) => s.message),
      ['100', '100', '200', '200'],
    );
    clock.advance(31_999);
    assert.equal(tx.state, 'completed');
    clock.advance(1);
    assert.deepEqual(states, ['trying', 'proceeding', 'completed', 'terminated']);
  });

  it('reliable: Timer J is zero', () => {
    const { clock, tx } = nonInviteServer(true);
    tx.respond({ status: 200 });
    clock.advance(0);
    assert.equal(tx.state, 'terminated');
  });
});

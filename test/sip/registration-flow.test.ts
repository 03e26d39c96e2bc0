/**
 * A registration over TCP or TLS whose connection closes (RFC 5626 §4.4.1's flow failure):
 * RegistrationClient.flowClosed refreshes the standing binding over a new connection within
 * seconds, only for the connection that carried it, at most once a minute, never while a
 * REGISTER is in flight, and never over UDP. The registrar is a scripted link on a FakeClock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SipRequest } from '../../src/sip/message.js';
import { RegistrationClient } from '../../src/sip/registration.js';
import { RegistrationFlow } from '../../src/sip/registration-flow.js';
import type { TransportAddress } from '../../src/sip/types.js';
import { FakeClock } from '../../src/util/index.js';
import { grant, run } from './helpers/fake-registrar.js';

const REGISTRAR: TransportAddress = { transport: 'tcp', address: '127.0.0.9', port: 5090 };
/** The registrar's end of our connection, as the response came from it. */
const FLOW: TransportAddress = { ...REGISTRAR };

/** A client whose registrar grants `grantedSec` at once from `source`, noting when each REGISTER came. */
function scene(source: TransportAddress = FLOW, random = 0.5, grantedSec = 600) {
  const clock = new FakeClock();
  const sent: number[] = [];
  let answer: (
    request: SipRequest,
  ) => Promise<{ response: ReturnType<typeof grant>; source: TransportAddress }> = async (request) => ({
    response: grant(request, grantedSec),
    source,
  });
  const client = new RegistrationClient({
    link: {
      exchange: (request) => {
        sent.push(clock.now());
        return answer(request);
      },
      contactHeader: (transport) => `<sip:pb-flow@127.0.0.1:5060;transport=${transport}>`,
      keepAlive: () => undefined,
      contactMoved: () => undefined,
    },
    clock,
    registrar: { ...REGISTRAR, transport: source.transport },
    registrarUri: `sip:${REGISTRAR.address}:${REGISTRAR.port};transport=${source.transport}`,
    aor: `sip:trunk-user@${REGISTRAR.address}`,
    username: 'trunk-user',
    password: 'secret',
    expiresSec: 600,
    contactUser: 'pb-flow',
    random: () => random,
  });
  return {
    clock,
    client,
    sent,
    hold: (until: Promise<void>) => {
      answer = async (request) => {
        await until;
        return { response: grant(request, 600), source };
      };
    },
  };
}

describe('RegistrationClient over TCP or TLS: the connection of its binding closes', () => {
  it('refreshes the binding 1-4 s later over a new one, not at half its 600 s', async () => {
    for (const [random, expectedMs] of [
      [0, 1000],
      [0.5, 2500],
      [0.99, 3970],
    ] as const) {
      const { clock, client, sent } = scene(FLOW, random);
      client.start();
      await run(clock, 100);
      assert.equal(client.status.state, 'registered');
      const closedAt = clock.now();
      assert.equal(client.flowClosed(FLOW), true);
      await run(clock, 5000, 10);
      assert.equal(sent.length, 2, 'one refresh');
      assert.ok(
        Math.abs((sent[1] ?? 0) - closedAt - expectedMs) <= 10,
        `refreshed ${(sent[1] ?? 0) - closedAt} ms after`,
      );
      assert.equal(client.status.state, 'registered');
      // The refresh's timer replaced the half-interval one: the next is 300 s after the refresh.
      await run(clock, (sent[1] ?? 0) + 299_000 - clock.now(), 1000);
      assert.equal(sent.length, 2);
      await run(clock, 2000, 1000);
      assert.equal(sent.length, 3);
      client.close();
    }
  });

  it('ignores another connection, a second loss within a minute, and UDP', async () => {
    const { clock, client, sent } = scene();
    client.start();
    await run(clock, 100);
    assert.equal(client.flowClosed({ ...FLOW, port: 5091 }), false, 'another connection');
    assert.equal(client.flowClosed({ ...FLOW, transport: 'tls' }), false, 'another transport');
    assert.equal(client.flowClosed(FLOW), true);
    await run(clock, 5000);
    assert.equal(sent.length, 2);
    assert.equal(
      client.flowClosed(FLOW),
      false,
      'a registrar that closes each connection is not met by a loop',
    );
    // The binding is refreshed at its own pace then (half of 600 s), over a new connection.
    await run(clock, (sent[1] ?? 0) + 300_000 - clock.now() + 1000, 1000);
    assert.equal(sent.length, 3);
    assert.equal(client.flowClosed(FLOW), true, 'more than a minute after the last one');
    client.close();

    const udp = scene({ ...FLOW, transport: 'udp' });
    udp.client.start();
    await run(udp.clock, 100);
    assert.equal(udp.client.flowClosed({ ...FLOW, transport: 'udp' }), false);
    udp.client.close();
  });

  it('never puts off a refresh due sooner than the wait', async () => {
    const late = scene(FLOW, 0.5, 4); // refresh due in 2 s, the wait drawn 2.5 s
    late.client.start();
    await run(late.clock, 100);
    assert.equal(late.client.flowClosed(FLOW), false);
    await run(late.clock, 2000, 10);
    assert.equal(late.sent.length, 2, 'refreshed at half of the 4 s granted');
    assert.ok(Math.abs((late.sent[1] ?? 0) - 2000) <= 10);
    late.client.close();

    const soon = scene(FLOW, 0, 4); // the wait drawn 1 s: sooner than the refresh
    soon.client.start();
    await run(soon.clock, 100);
    assert.equal(soon.client.flowClosed(FLOW), true);
    await run(soon.clock, 1000, 10);
    assert.equal(soon.sent.length, 2);
    soon.client.close();
  });

  it('not while a REGISTER is in flight, before the first binding, or after stop', async () => {
    const { clock, client, hold } = scene();
    assert.equal(client.flowClosed(FLOW), false, 'never registered');
    let release = (): void => undefined;
    hold(new Promise<void>((resolve) => (release = resolve)));
    client.start();
    await run(clock, 100);
    assert.equal(client.flowClosed(FLOW), false, 'the first REGISTER is in flight');
    release();
    await run(clock, 100);
    assert.equal(client.status.state, 'registered');
    await client.stop();
    assert.equal(client.flowClosed(FLOW), false, 'stopped');
    client.close();
  });
});

describe('RegistrationFlow', () => {
  it('forgets the connection once lost, and when the binding goes', () => {
    const clock = new FakeClock();
    const flow = new RegistrationFlow(clock, () => 0);
    assert.equal(flow.lost(FLOW, 300_000), undefined, 'no binding yet');
    flow.granted(FLOW);
    assert.equal(flow.lost(FLOW, 300_000), 1000);
    clock.advance(120_000);
    assert.equal(flow.lost(FLOW, 300_000), undefined, 'already lost');
    flow.granted(FLOW);
    flow.forget();
    assert.equal(flow.lost(FLOW, 300_000), undefined, 'forgotten');
    flow.granted(FLOW);
    assert.equal(flow.lost(FLOW, 999), undefined, 'the refresh comes first');
    flow.granted(FLOW);
    assert.equal(
      flow.lost(FLOW, 300_000),
      1000,
      'a loss that led to no refresh does not count against the next',
    );
  });
});

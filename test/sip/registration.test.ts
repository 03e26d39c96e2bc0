/**
 * RegistrationClient against a scripted registrar on the in-memory SIP network, on a
 * FakeClock: digest challenge, granted intervals and refresh timing, one Call-ID with
 * increasing CSeq (RFC 3261 §10.2.4), 423 (§10.2.8), backoff after failures, unregister, and
 * behind a NAT (RFC 3581 received/rport): the binding moved to the public address, keep-alives.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { SipRequest, SipResponse } from '../../src/sip/message.js';
import { createResponse } from '../../src/sip/message-ops.js';
import {
  RegistrationClient,
  type RegistrationOptions,
  type RegistrationStatus,
} from '../../src/sip/registration.js';
import type { FakeClock } from '../../src/util/index.js';
import {
  digestChallenger,
  grant,
  REGISTRAR,
  type RegistrarScript,
  registrarScene,
  run,
  US,
} from './helpers/fake-registrar.js';
import type { MemoryNetwork } from './helpers/memory-transport.js';

const REALM = 'registrar.test';
const PASSWORD = 's3cret';
const CONTACT_USER = 'pb-0123abcd';

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const close of cleanup) close();
  cleanup = [];
});

/**
 * `registrar` builds the registrar's answers (it may need the clock, e.g. for digest nonces).
 * The link is the UA's, but keep-alives are noted in `keepAlives` (`to`: address:port), not sent.
 */
function setup(script: (clock: FakeClock) => RegistrarScript, options: Partial<RegistrationOptions> = {}) {
  const { clock, network, ua, registrar } = registrarScene(script);
  const { requests } = registrar;
  const keepAlives: Array<{ at: number; to: string }> = [];
  const client = new RegistrationClient({
    link: {
      exchange: (request, destination) => ua.exchange(request, destination),
      contactHeader: (transport, secure, user, at) => ua.contactHeader(transport, secure, user, at),
      keepAlive: (destination) =>
        keepAlives.push({ at: clock.now(), to: `${destination.address}:${destination.port}` }),
      contactMoved: (user, at) => ua.contactMoved(user, at),
    },
    clock,
    registrar: REGISTRAR,
    registrarUri: `sip:${REGISTRAR.address}:${REGISTRAR.port}`,
    aor: `sip:trunk-user@${REGISTRAR.address}`,
    username: 'trunk-user',
    password: PASSWORD,
    expiresSec: 60,
    contactUser: CONTACT_USER,
    random: () => 0,
    ...options,
  });
  const states: RegistrationStatus[] = [];
  const attempts: string[] = [];
  client.on('state', (status) => states.push(status));
  client.on('attempt', (result) => attempts.push(result));
  cleanup.push(() => {
    client.close();
    ua.close();
  });
  return { clock, network, client, registrar, requests, states, attempts, keepAlives };
}

function digestRegistrar(
  clock: FakeClock,
  onAuthorized: (request: SipRequest) => SipResponse,
): RegistrarScript {
  return digestChallenger(clock, { realm: REALM, username: 'trunk-user', password: PASSWORD }, onAuthorized);
}

function cseqs(requests: Array<{ request: SipRequest }>): number[] {
  return requests.map(({ request }) => request.cseq().seq);
}

function state(client: RegistrationClient): RegistrationStatus['state'] {
  return client.status.state;
}

describe('RegistrationClient (RFC 3261 §10.2)', () => {
  it('answers the 401 with digest and is registered for the interval granted to its Contact', async () => {
    const { clock, client, requests, states, attempts } = setup((c) =>
      digestRegistrar(c, (request) => grant(request, 50)),
    );
    client.start();
    await run(clock, 100);

    assert.equal(requests.length, 2);
    const [first, second] = requests.map(({ request }) => request);
    assert.ok(first && second);
    assert.equal(first.get('authorization'), undefined);
    assert.match(second.get('authorization') ?? '', /^Digest username="trunk-user", realm="registrar.test"/);
    assert.equal(first.uri, 'sip:127.0.0.9:5090', 'the Request-URI is the registrar domain, no user');
    assert.equal(first.to().uri.user, 'trunk-user');
    assert.equal(first.contacts()[0]?.uri.user, CONTACT_USER, 'our Contact carries the unique user part');
    assert.equal(first.get('expires'), '60');
    assert.equal(second.callId(), first.callId(), 'one Call-ID for the binding');
    assert.deepEqual(cseqs(requests), [1, 2], 'CSeq goes up with every REGISTER');
    assert.ok(!second.get('authorization')?.includes(PASSWORD), 'the password never goes on the wire');

    const status = client.status;
    assert.equal(status.state, 'registered');
    assert.equal(status.state === 'registered' && status.expiresSec, 50, 'the Contact expires param wins');
    assert.deepEqual(
      states.map((s) => s.state),
      ['registering', 'registered'],
    );
    assert.deepEqual(attempts, ['registered']);
  });

  it('refreshes at half the granted interval with the same Call-ID, the next CSeq and the last nonce', async () => {
    // The registrar grants 40 s through the Expires header, less than the 60 s asked.
    const { clock, client, requests } = setup((c) =>
      digestRegistrar(c, (request) => grant(request, 40, true)),
    );
    client.start();
    await run(clock, 19_900);
    assert.equal(requests.length, 2, 'nothing before half of 40 s');
    await run(clock, 200);
    assert.equal(requests.length, 3, 'one refresh at 20 s, answered without a new challenge');
    assert.equal(requests[2]?.at, 20_000);
    assert.equal(requests[2]?.request.callId(), requests[0]?.request.callId());
    assert.deepEqual(cseqs(requests), [1, 2, 3]);
    assert.match(requests[2]?.request.get('authorization') ?? '', /nc=00000002/, 'the nonce is used again');
    await run(clock, 20_000);
    assert.equal(requests.length, 4, 'and again 20 s later');
    assert.equal(state(client), 'registered');
  });

  it('retries a 423 with the Min-Expires and keeps asking for it on refreshes', async () => {
    const { clock, client, registrar, requests } = setup(() => (request) => {
      if (Number(request.get('expires')) < 120) {
        const brief = createResponse(request, 423);
        brief.append('Min-Expires', '120');
        return brief;
      }
      return grant(request, 120);
    });
    client.start();
    await run(clock, 100);
    assert.deepEqual(registrar.expires(), ['60', '120']);
    assert.equal(state(client), 'registered');
    await run(clock, 60_000);
    assert.equal(requests[2]?.request.get('expires'), '120', 'the refresh asks for the raised interval');
  });

  it('gives up on a 423 whose Min-Expires does not go up', async () => {
    const { clock, client, attempts } = setup(() => (request) => {
      const brief = createResponse(request, 423);
      brief.append('Min-Expires', '30');
      return brief;
    });
    client.start();
    await run(clock, 100);
    const status = client.status;
    assert.equal(status.state, 'failed');
    assert.equal(status.state === 'failed' && status.cause, 'interval_too_brief');
    assert.deepEqual(attempts, ['interval_too_brief']);
  });

  it('backs off exponentially up to the cap after failures, and resets once registered', async () => {
    let failing = true;
    const { clock, client, requests, attempts } = setup(
      () => (request) => (failing ? createResponse(request, 503) : grant(request, 60)),
      { backoff: { baseMs: 1000, maxMs: 5000 } },
    );
    client.start();
    await run(clock, 20_000);
    const gaps = requests.slice(1).map(({ at }, index) => at - (requests[index]?.at ?? 0));
    assert.deepEqual(gaps.slice(0, 5), [1000, 2000, 4000, 5000, 5000]);
    assert.ok(attempts.every((result) => result === 'rejected'));
    const status = client.status;
    assert.equal(status.state === 'failed' && status.detail, '503 Service Unavailable');
    assert.equal(status.failures, requests.length);

    failing = false;
    await run(clock, 5000);
    assert.equal(state(client), 'registered');
    assert.equal(client.status.failures, 0);
  });

  it('waits at least the Retry-After of a 503 and spreads retries with jitter', async () => {
    const { clock, client, requests } = setup(
      () => (request) => {
        const busy = createResponse(request, 503);
        busy.append('Retry-After', '20');
        return busy;
      },
      { random: () => 0.99 },
    );
    client.start();
    await run(clock, 30_000);
    assert.deepEqual(
      requests.map(({ at }) => at),
      [0, 20_000],
    );
  });

  it('counts a registrar that never answers as a timeout (Timer F) and retries', async () => {
    const { clock, client, requests, attempts } = setup(() => () => undefined);
    client.start();
    await run(clock, 32_500, 500);
    assert.deepEqual(attempts, ['timeout']);
    assert.equal(state(client), 'failed');
    const sent = requests.filter(({ request }) => request.cseq().seq === 1).length;
    assert.ok(sent > 1, 'UDP retransmissions of the same REGISTER');
    await run(clock, 1000);
    assert.equal(requests.at(-1)?.request.cseq().seq, 2, 'the retry is a new REGISTER');
  });

  it('stops at a second 401 for wrong credentials (auth_rejected) and does not loop', async () => {
    const { clock, client, requests, attempts } = setup(
      (c) => digestRegistrar(c, (request) => grant(request, 60)),
      { password: 'wrong' },
    );
    client.start();
    await run(clock, 500);
    assert.equal(requests.length, 2);
    assert.deepEqual(attempts, ['auth_rejected']);
  });

  it('answers a second 401 with stale=true with its new nonce (RFC 7616 §3.3) and is registered', async () => {
    const { clock, client, requests, attempts } = setup((c) => {
      const credentials = { realm: REALM, username: 'trunk-user', password: PASSWORD };
      const before = digestChallenger(c, credentials, (request) => grant(request, 60), 'before');
      // Restarted after its first challenge: our answer to it names a nonce it no longer knows.
      const after = digestChallenger(c, credentials, (request) => grant(request, 60), 'after');
      return (request, index) => (index === 0 ? before : after)(request, index);
    });
    client.start();
    await run(clock, 500);
    assert.equal(requests.length, 3);
    const nonces = requests.map(
      ({ request }) => /nonce="([^"]+)"/.exec(request.get('authorization') ?? '')?.[1],
    );
    assert.ok(nonces[1] && nonces[2] && nonces[1] !== nonces[2], 'the retry answers the new nonce');
    assert.deepEqual(attempts, ['registered']);
  });

  it('does not answer a challenge for another realm than the configured one', async () => {
    const { clock, client, requests, attempts } = setup(
      (c) => digestRegistrar(c, (request) => grant(request, 60)),
      { realm: 'other.test' },
    );
    client.start();
    await run(clock, 500);
    assert.equal(requests.length, 1, 'no credentials sent');
    assert.deepEqual(attempts, ['auth_rejected']);
    const status = client.status;
    assert.match(status.state === 'failed' ? status.detail : '', /realm 'registrar.test'/);
  });

  it('fails a challenge it cannot answer (no known qop) and retries later instead of stalling', async () => {
    const { clock, client, requests, attempts } = setup(() => (request) => {
      const challenge = createResponse(request, 401);
      challenge.append('WWW-Authenticate', 'Digest realm="r", nonce="n", qop="auth-conf"');
      return challenge;
    });
    client.start();
    await run(clock, 500);
    assert.deepEqual(attempts, ['bad_response']);
    const status = client.status;
    assert.match(status.state === 'failed' ? status.detail : '', /no supported qop/);
    await run(clock, 1000);
    assert.equal(requests.length, 2, 'the retry is sent, without the challenge it could not answer');
    assert.equal(requests[1]?.request.get('authorization'), undefined);
  });

  it('unregisters with Expires: 0 on stop, on the same Call-ID, and sends nothing after', async () => {
    const { clock, client, requests, states } = setup(
      () => (request) => grant(request, Number(request.get('expires'))),
    );
    client.start();
    await run(clock, 100);
    assert.equal(state(client), 'registered');
    const stopped = client.stop();
    await run(clock, 100);
    await stopped;
    const last = requests.at(-1)?.request;
    assert.equal(last?.get('expires'), '0');
    assert.equal(last?.callId(), requests[0]?.request.callId());
    assert.deepEqual(cseqs(requests), [1, 2]);
    assert.equal(states.at(-1)?.state, 'unregistered');
    await run(clock, 120_000, 1000);
    assert.equal(requests.length, 2, 'no refresh after stop');
    assert.equal(client.stop(), stopped, 'stop is idempotent');
  });

  it('a stop while the first REGISTER is in flight waits for it, then unregisters', async () => {
    const { clock, client, registrar } = setup(
      () => (request) => grant(request, Number(request.get('expires'))),
    );
    client.start();
    const stopped = client.stop();
    await run(clock, 200);
    await stopped;
    assert.deepEqual(registrar.expires(), ['60', '0']);
    assert.equal(state(client), 'unregistered');
  });

  it('keeps the addresses the registrar answered from while the binding they made stands', async () => {
    // The registrar answers from another address of its own than the one REGISTERs go to.
    const other = { ...REGISTRAR, address: '127.0.0.10' };
    let answerFrom = other;
    let network: MemoryNetwork | undefined;
    const scene = setup(() => (request) => {
      network?.transmit(grant(request, 40), answerFrom, US);
      return undefined;
    });
    network = scene.network;
    const { clock, client } = scene;
    const addresses = (): string[] => [...client.registrarAddresses].sort();
    assert.deepEqual(client.registrarAddresses, [], 'none before a binding');
    client.start();
    await run(clock, 100);
    assert.deepEqual(addresses(), ['127.0.0.10', '127.0.0.9'], 'and the configured one');
    answerFrom = { ...REGISTRAR, address: '127.0.0.11' };
    await run(clock, 20_000);
    assert.deepEqual(addresses(), ['127.0.0.10', '127.0.0.11', '127.0.0.9']);
    answerFrom = other;
    // The refresh at 40 s is answered again by 127.0.0.10: the binding 127.0.0.11 made lapses at 60 s.
    await run(clock, 20_000);
    assert.deepEqual(addresses(), ['127.0.0.10', '127.0.0.11', '127.0.0.9']);
    await run(clock, 20_000);
    assert.deepEqual(addresses(), ['127.0.0.10', '127.0.0.9']);
    const stopped = client.stop();
    await run(clock, 100);
    await stopped;
    assert.deepEqual(client.registrarAddresses, [], 'none once unregistered');
  });

  it('sends nothing on stop when never registered', async () => {
    const { clock, client, requests } = setup(() => (request) => createResponse(request, 404));
    await client.stop();
    client.start();
    await run(clock, 5000);
    assert.equal(requests.length, 0);
  });
});

/** The registrar's 200, with the top Via as a NAT in front of us makes it look (RFC 3581). */
function grantBehindNat(request: SipRequest, expires: number, received: string, rport: number): SipResponse {
  const response = grant(request, expires);
  const via = response.topVia();
  assert.ok(via);
  via.params.set('received', received);
  via.params.set('rport', String(rport));
  response.writeBackTopVia();
  return response;
}

describe('RegistrationClient behind a NAT (RFC 3581 received and rport)', () => {
  it('moves the binding to the address the NAT maps us to, the old Contact removed in the same REGISTER', async () => {
    const { clock, client, requests, attempts, keepAlives } = setup(
      () => (request) => grantBehindNat(request, 60, '203.0.113.9', 40_000),
      { keepAliveSec: 25 },
    );
    client.start();
    await run(clock, 100);
    assert.equal(requests.length, 2, 'registered, then moved at once');
    const [first, moved] = requests.map(({ request }) => request);
    assert.match(first?.get('contact') ?? '', /@127\.0\.0\.1:5060>$/);
    const contacts = moved?.contacts() ?? [];
    assert.equal(contacts.length, 2);
    assert.equal(contacts[0]?.uri.host, '203.0.113.9');
    assert.equal(contacts[0]?.uri.port, 40_000);
    assert.equal(contacts[0]?.uri.user, CONTACT_USER);
    assert.equal(contacts[1]?.uri.host, '127.0.0.1');
    assert.equal(contacts[1]?.params.get('expires'), '0', 'the private binding removed');
    assert.deepEqual(client.publicAddress, { address: '203.0.113.9', port: 40_000 });
    assert.equal(client.status.state, 'registered');
    assert.deepEqual(attempts, ['registered', 'registered']);

    // The refresh at half the interval keeps the public Contact, alone.
    await run(clock, 30_000);
    const refresh = requests[2]?.request;
    assert.ok(refresh, 'refreshed');
    assert.deepEqual(
      refresh.contacts().map((contact) => `${contact.uri.host}:${contact.uri.port}`),
      ['203.0.113.9:40000'],
    );
    // Keep-alives to where the registrar answered from, every 25 s.
    assert.ok(keepAlives.length >= 1);
    assert.ok(keepAlives.every(({ to }) => to === '127.0.0.9:5090'));
    const gaps = keepAlives.slice(1).map(({ at }, i) => at - (keepAlives[i]?.at ?? 0));
    assert.ok(
      gaps.every((gap) => gap === 25_000),
      `keep-alives ${gaps.join(', ')} ms apart`,
    );
  });

  it('not behind a NAT, or with keepAliveSec 0: no move and no keep-alive', async () => {
    const direct = setup(() => (request) => grant(request, 60), { keepAliveSec: 25 });
    direct.client.start();
    await run(direct.clock, 60_000);
    assert.equal(direct.client.publicAddress, undefined);
    assert.ok(direct.requests.every(({ request }) => request.contacts().length === 1));
    assert.deepEqual(direct.keepAlives, []);

    const natted = setup(() => (request) => grantBehindNat(request, 60, '203.0.113.9', 40_000), {
      keepAliveSec: 0,
    });
    natted.client.start();
    await run(natted.clock, 60_000);
    assert.deepEqual(natted.client.publicAddress, { address: '203.0.113.9', port: 40_000 });
    assert.deepEqual(natted.keepAlives, []);
  });

  it('stop() ends the keep-alives and removes the public binding', async () => {
    const { clock, client, requests, keepAlives } = setup(
      () => (request) => grantBehindNat(request, 600, '203.0.113.9', 40_000),
      { keepAliveSec: 25 },
    );
    client.start();
    await run(clock, 30_000);
    const before = keepAlives.length;
    assert.ok(before >= 1);
    const stopped = client.stop();
    await run(clock, 100);
    await stopped;
    const removal = requests.at(-1)?.request;
    assert.equal(removal?.get('expires'), '0');
    assert.equal(removal?.contacts()[0]?.uri.host, '203.0.113.9');
    await run(clock, 60_000);
    assert.equal(keepAlives.length, before, 'no keep-alive after stop');
  });

  it('moves back when the registrar sees us at our own address again, and stops the keep-alives', async () => {
    let natted = true;
    const { clock, client, requests, keepAlives } = setup(
      () => (request) => (natted ? grantBehindNat(request, 60, '203.0.113.9', 40_000) : grant(request, 60)),
      { keepAliveSec: 25 },
    );
    client.start();
    await run(clock, 100);
    assert.deepEqual(client.publicAddress, { address: '203.0.113.9', port: 40_000 });
    natted = false;
    await run(clock, 30_500);
    assert.equal(client.publicAddress, undefined);
    const back = requests.at(-1)?.request;
    assert.deepEqual(
      back
        ?.contacts()
        .map((contact) => `${contact.uri.host}:${contact.uri.port}:${contact.params.get('expires') ?? ''}`),
      ['127.0.0.1:5060:', '203.0.113.9:40000:0'],
      'our own Contact again, the public one removed',
    );
    const beats = keepAlives.length;
    await run(clock, 60_000);
    assert.equal(keepAlives.length, beats, 'no keep-alive without a NAT');
  });

  it('reads its interval from the Contact it registered when the registrar also lists the one going', async () => {
    let natted = true;
    const { clock, client } = setup(
      () => (request) => {
        const response = natted ? grantBehindNat(request, 60, '203.0.113.9', 40_000) : grant(request, 60);
        // Every binding of ours the registrar knows, the one being removed first (expires=0).
        const listed = request.getAll('contact').flatMap((value) => value.split(','));
        response.remove('contact');
        for (const contact of listed.reverse())
          response.append('Contact', contact.includes('expires=0') ? contact : `${contact};expires=45`);
        return response;
      },
      { keepAliveSec: 25 },
    );
    client.start();
    await run(clock, 100);
    natted = false;
    // The refresh at half of 45 s finds us back at our address: the move back lists the public
    // Contact (going) before ours.
    await run(clock, 23_000);
    assert.equal(client.publicAddress, undefined);
    const status = client.status;
    assert.equal(status.state, 'registered');
    assert.equal(status.state === 'registered' && status.expiresSec, 45);
  });
});

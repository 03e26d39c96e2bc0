/**
 * TrunkRegistrations on a FakeClock over the in-memory SIP network: a registration per trunk
 * with `outbound.register`, its state in the metrics and the API list, reloads that change
 * or drop it (the old binding removed before the new one is made), and stop.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import {
  gatewayFileSchema,
  makeSnapshot,
  type PatchbayConfig,
  type TrunkFileInput,
  trunkSchema,
} from '../../src/config/index.js';
import { GatewayMetrics } from '../../src/control/metrics.js';
import { TrunkRegistrations } from '../../src/gateway/registrations.js';
import type { SipRequest } from '../../src/sip/message.js';
import { createResponse } from '../../src/sip/message-ops.js';
import type { TransportAddress } from '../../src/sip/types.js';
import type { Exchanged } from '../../src/sip/user-agent.js';
import { registrationContactUser, type ServerLocator } from '../../src/trunks/index.js';
import { FakeClock, silentLogger } from '../../src/util/index.js';
import { grant, type RegistrarScript, registrarScene } from '../sip/helpers/fake-registrar.js';
import { FakeDns, fakeLocator } from '../trunks/helpers/fake-dns.js';
import { flush, run } from './helpers/call-harness.js';

const REGISTER = { registrar: '127.0.0.9:5090', username: 'u', password: 'p', expires: 60 };

function config(...trunks: TrunkFileInput[]): PatchbayConfig {
  return makeSnapshot(
    gatewayFileSchema.parse({}),
    trunks.map((trunk) => trunkSchema.parse(trunk)),
  );
}

function registeringTrunk(name: string, register: Partial<typeof REGISTER> = {}): TrunkFileInput {
  return { name, outbound: { gateways: [{ host: 'g' }], register: { ...REGISTER, ...register } } };
}

let closeAll: (() => void) | undefined;
afterEach(() => {
  closeAll?.();
  closeAll = undefined;
});

/** `script` answers each REGISTER (default: grant what was asked). */
function setup(script: RegistrarScript = (request) => grant(request, Number(request.get('expires')))) {
  const { clock, ua, registrar } = registrarScene(() => script);
  const metrics = new GatewayMetrics({ processMetrics: false });
  const registrations = new TrunkRegistrations({
    link: ua,
    clock,
    logger: silentLogger,
    metrics,
    userAgent: 'patchbay/test',
  });
  closeAll = () => {
    registrations.close();
    ua.close();
  };
  return { clock, registrar, metrics, registrations };
}

async function gauge(metrics: GatewayMetrics): Promise<Record<string, number>> {
  const values = (await metrics.trunkRegistered.get()).values;
  return Object.fromEntries(values.map((value) => [String(value.labels.trunk), value.value]));
}

async function counted(metrics: GatewayMetrics): Promise<string[]> {
  const values = (await metrics.registrationsTotal.get()).values;
  return values.map((value) => `${value.labels.trunk} ${value.labels.result} ${value.value}`);
}

/**
 * TrunkRegistrations over a scripted link instead of the network: `answer` gives each REGISTER's
 * outcome by where it was sent; every REGISTER and its destination are kept in `sent`.
 */
function scriptedLink(
  clock: FakeClock,
  answer: (request: SipRequest, destination: TransportAddress) => Exchanged,
  locator?: ServerLocator,
) {
  const sent: Array<{ request: SipRequest; destination: TransportAddress }> = [];
  const link = {
    exchange: async (request: SipRequest, destination: TransportAddress) => {
      sent.push({ request, destination });
      return answer(request, destination);
    },
    contactHeader: (transport: string, _secure?: boolean, user?: string) =>
      `<sip:${user}@198.51.100.1:5061;transport=${transport}>`,
    keepAlive: () => undefined,
    contactMoved: () => undefined,
  };
  const metrics = new GatewayMetrics({ processMetrics: false });
  const registrations = new TrunkRegistrations({
    link,
    clock,
    logger: silentLogger,
    metrics,
    userAgent: 'pb',
    ...(locator ? { locator } : {}),
  });
  closeAll = () => registrations.close();
  return { sent, registrations, metrics };
}

describe('TrunkRegistrations', () => {
  it('registers each trunk with outbound.register and reports it in the gauge, the counter and the list', async () => {
    const { clock, registrar, metrics, registrations } = setup();
    registrations.apply(
      config(registeringTrunk('reg'), { name: 'plain', inbound: { allowedCidrs: ['10.0.0.0/8'] } }),
    );
    await run(clock, 100);

    assert.equal(registrar.requests.length, 1);
    const request = registrar.requests[0]?.request;
    assert.equal(request?.uri, 'sip:127.0.0.9:5090');
    assert.equal(request?.to().uri.user, 'u');
    const contact = request?.contacts()[0]?.uri.user;
    assert.equal(
      contact,
      registrationContactUser(
        'reg',
        trunkSchema.parse(registeringTrunk('reg')).outbound?.register ?? assert.fail(),
      ),
    );
    assert.equal(request?.get('user-agent'), 'patchbay/test');
    assert.deepEqual(await gauge(metrics), { reg: 1 });
    assert.deepEqual(await counted(metrics), ['reg registered 1']);
    const [listed] = registrations.list();
    assert.equal(listed?.trunk, 'reg');
    assert.equal(listed?.state, 'registered');
    assert.equal(listed?.aor, 'sip:u@127.0.0.9');
    assert.equal(listed?.expiresSec, 60);
    assert.deepEqual(registrations.registrarAddresses('reg'), ['127.0.0.9'], 'where its calls come from');
    assert.deepEqual(registrations.registrarAddresses('plain'), []);
  });

  it('counts failures by cause and shows 0 while not registered', async () => {
    const { clock, metrics, registrations } = setup((request) => createResponse(request, 403));
    registrations.apply(config(registeringTrunk('reg')));
    await run(clock, 100);
    assert.deepEqual(
      registrations.registrarAddresses('reg'),
      ['127.0.0.9'],
      'no binding, but the registrar as configured (an IP address) is where its calls come from',
    );
    assert.deepEqual(await gauge(metrics), { reg: 0 });
    assert.deepEqual(await counted(metrics), ['reg auth_rejected 1']);
    const [listed] = registrations.list();
    assert.equal(listed?.state, 'failed');
    assert.equal(listed?.cause, 'auth_rejected');
    assert.equal(listed?.detail, '403 Forbidden');
  });

  it('shows 1 through a refresh the registrar refuses, until the binding it granted expires', async () => {
    const { clock, metrics, registrations } = setup((request, index) =>
      index === 0 ? grant(request, 60) : createResponse(request, 503),
    );
    registrations.apply(config(registeringTrunk('reg')));
    await run(clock, 100);
    assert.deepEqual(await gauge(metrics), { reg: 1 });
    await run(clock, 31_000); // the refresh at half the interval, refused
    assert.equal(registrations.list()[0]?.state, 'failed');
    assert.deepEqual(await gauge(metrics), { reg: 1 }, 'the first binding still stands');
    await run(clock, 30_000);
    assert.deepEqual(await gauge(metrics), { reg: 0 }, 'expired');
  });

  it('on reload keeps an unchanged registration, and replaces a changed one only after its Expires: 0', async () => {
    const { clock, registrar, metrics, registrations } = setup();
    registrations.apply(config(registeringTrunk('reg')));
    await run(clock, 100);
    registrations.apply(config(registeringTrunk('reg')));
    await run(clock, 100);
    assert.deepEqual(registrar.expires(), ['60']);

    registrations.apply(config(registeringTrunk('reg', { expires: 120 })));
    await run(clock, 100);
    assert.deepEqual(registrar.expires(), ['60', '0', '120']);
    const [unregister, register] = registrar.requests.slice(1).map(({ request }) => request);
    assert.notEqual(unregister?.callId(), register?.callId(), 'a new registration, a new Call-ID');
    assert.deepEqual(await gauge(metrics), { reg: 1 });

    registrations.apply(config({ name: 'plain', inbound: { allowedCidrs: ['10.0.0.0/8'] } }));
    await run(clock, 100);
    assert.deepEqual(registrar.expires(), ['60', '0', '120', '0']);
    assert.deepEqual(await gauge(metrics), {}, 'a removed trunk leaves no gauge behind');
    assert.deepEqual(registrations.list(), []);
  });

  it('stop removes every binding and no reload starts one again', async () => {
    const { clock, registrar, metrics, registrations } = setup();
    registrations.apply(config(registeringTrunk('a'), registeringTrunk('b', { username: 'v' })));
    await run(clock, 100);
    const stopped = registrations.stop(2000);
    await flush();
    await run(clock, 100);
    await stopped;
    assert.deepEqual(registrar.expires(), ['60', '60', '0', '0']);
    assert.deepEqual(await gauge(metrics), { a: 0, b: 0 });
    registrations.apply(config(registeringTrunk('c')));
    await run(clock, 60_000, 1000);
    assert.equal(registrar.requests.length, 4);
  });

  it('stop gives up on a registrar that does not answer after its timeout', async () => {
    let answering = true;
    const { clock, registrations } = setup((request) => (answering ? grant(request, 60) : undefined));
    registrations.apply(config(registeringTrunk('reg')));
    await run(clock, 100);
    answering = false;
    let done = false;
    void registrations.stop(2000).then(() => {
      done = true;
    });
    await run(clock, 1900);
    assert.equal(done, false);
    await run(clock, 200);
    assert.equal(done, true);
  });

  it('registers over TLS to port 5061 by default, verified as the registrar host, with a TLS Contact', async () => {
    const clock = new FakeClock();
    const { sent, registrations } = scriptedLink(clock, (request, destination) => ({
      response: grant(request, 60),
      source: { ...destination, address: '192.0.2.7' },
    }));
    registrations.apply(
      config({
        name: 'secure',
        outbound: {
          gateways: [{ host: 'g' }],
          register: { ...REGISTER, registrar: 'Registrar.carrier.example', transport: 'tls' },
        },
      }),
    );
    await run(clock, 100);
    const [first] = sent;
    assert.deepEqual(first?.destination, {
      transport: 'tls',
      address: 'Registrar.carrier.example',
      port: 5061,
      serverName: 'Registrar.carrier.example',
    });
    assert.equal(first?.request.uri, 'sip:Registrar.carrier.example;transport=tls');
    assert.match(first?.request.get('contact') ?? '', /;transport=tls>/);
    assert.equal(registrations.list()[0]?.state, 'registered');
    assert.deepEqual(registrations.registrarAddresses('secure'), ['192.0.2.7']);
  });

  it('locates a registrar named without a port by SRV (RFC 3263), and fails over to the next target after a failed attempt', async () => {
    const clock = new FakeClock();
    const dns = new FakeDns();
    dns.addService('voip.example', [
      { host: 'a.voip.example', port: 5070, priority: 10, weight: 1, address: '192.0.2.1' },
      { host: 'b.voip.example', port: 5080, priority: 20, weight: 1, address: '192.0.2.2' },
    ]);
    const { sent, registrations } = scriptedLink(
      clock,
      (request, destination) =>
        destination.address === '192.0.2.1'
          ? 'transport_error'
          : { response: grant(request, 60), source: destination },
      fakeLocator(clock, dns),
    );
    registrations.apply(config(registeringTrunk('located', { registrar: 'voip.example' })));
    await run(clock, 5000);
    assert.deepEqual(
      sent.map(({ destination: to }) => `${to.address}:${to.port}`),
      ['192.0.2.1:5070', '192.0.2.2:5080'],
      'the priority 10 target first, then the next one',
    );
    assert.deepEqual(
      sent.map(({ request }) => request.uri),
      ['sip:voip.example', 'sip:voip.example'],
      'the Request-URI names the domain (§10.2)',
    );
    assert.equal(registrations.list()[0]?.state, 'registered');
    assert.deepEqual(
      [...registrations.registrarAddresses('located')].sort(),
      ['192.0.2.1', '192.0.2.2'],
      "calls may come from any of the registrar's servers while the binding stands",
    );
  });

  it("takes calls from a located registrar's servers from its first lookup, before any answer", async () => {
    const clock = new FakeClock();
    const dns = new FakeDns();
    dns.addService('voip.example', [
      { host: 'a.voip.example', port: 5070, priority: 10, weight: 1, address: '192.0.2.1' },
      { host: 'b.voip.example', port: 5080, priority: 20, weight: 1, address: '192.0.2.2' },
    ]);
    // Our REGISTERs get no answer (the registrar is still starting, say) while it sends calls
    // on the binding we made before a restart.
    const { sent, registrations } = scriptedLink(clock, () => 'timeout', fakeLocator(clock, dns));
    registrations.apply(config(registeringTrunk('located', { registrar: 'voip.example' })));
    assert.deepEqual(registrations.registrarAddresses('located'), [], 'nothing located yet');
    await run(clock, 100);
    assert.ok(sent.length >= 1);
    assert.notEqual(registrations.list()[0]?.state, 'registered');
    assert.deepEqual([...registrations.registrarAddresses('located')].sort(), ['192.0.2.1', '192.0.2.2']);
  });

  it('a registrar named with a port is located by its A records: its calls are taken from the first lookup on', async () => {
    const clock = new FakeClock();
    const dns = new FakeDns();
    dns.aRecords.set('pbx.example', [{ address: '192.0.2.5', ttl: 300 }]);
    const { sent, registrations } = scriptedLink(clock, () => 'timeout', fakeLocator(clock, dns));
    registrations.apply(config(registeringTrunk('named', { registrar: 'pbx.example:5070' })));
    await run(clock, 100);
    assert.equal(dns.count('SRV _sip._udp.pbx.example'), 0, 'a port given: no SRV (RFC 3263 §4.2)');
    const [first] = sent;
    assert.equal(`${first?.destination.address}:${first?.destination.port}`, '192.0.2.5:5070');
    assert.equal(first?.request.uri, 'sip:pbx.example:5070', 'the Request-URI keeps the name (§10.2)');
    assert.deepEqual(registrations.registrarAddresses('named'), ['192.0.2.5']);
  });

  it('a registrar name DNS cannot resolve fails as dns_failure with what DNS said, not as a transport error', async () => {
    const clock = new FakeClock();
    const { sent, registrations, metrics } = scriptedLink(
      clock,
      (request, destination) => ({ response: grant(request, 60), source: destination }),
      fakeLocator(clock, new FakeDns()),
    );
    registrations.apply(config(registeringTrunk('nowhere', { registrar: 'nowhere.example' })));
    await run(clock, 100);
    assert.equal(sent.length, 0, 'no REGISTER without a server');
    const [listed] = registrations.list();
    assert.equal(listed?.state, 'failed');
    assert.equal(listed?.cause, 'dns_failure');
    assert.match(listed?.detail ?? '', /nowhere\.example/);
    assert.deepEqual(await counted(metrics), ['nowhere dns_failure 1']);
  });
});

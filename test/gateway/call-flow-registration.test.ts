/**
 * Calls on a registration-based trunk, in-process (helpers/call-harness.ts) with the trunk
 * registered at a FakeRegistrar on the in-memory network: an INVITE whose Request-URI is the
 * Contact the trunk registers is that trunk's call, calling the To user, when it comes from an
 * address the registrar answered from or from the trunk's own CIDRs; from anywhere else (the
 * Contact travels in clear in REGISTER) it is refused like an unknown source, as is any other
 * Request-URI from a source no CIDR names.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { trunkSchema } from '../../src/config/index.js';
import { TrunkRegistrations } from '../../src/gateway/registrations.js';
import type { TransportAddress } from '../../src/sip/types.js';
import { registrationContactUser } from '../../src/trunks/index.js';
import { silentLogger } from '../../src/util/index.js';
import { FakeRegistrar, grant, type RegistrarScript } from '../sip/helpers/fake-registrar.js';
import { CALLED, CARRIER_A, CallHarness, flush, run } from './helpers/call-harness.js';

const REGISTRAR: TransportAddress = { transport: 'udp', address: '127.0.0.9', port: 5090 };

const REGISTERING_TRUNK = {
  // The carrier's proxies (10.0.0.0/8) besides its registrar; CARRIER_A (127.0.0.1) is in neither.
  inbound: { allowedCidrs: ['10.0.0.0/8'], unknownSourceAction: 403 as const },
  outbound: {
    gateways: [{ host: 'sip.carrier.example' }],
    register: { registrar: `${REGISTRAR.address}:${REGISTRAR.port}`, username: 'u', password: 'p' },
  },
};

let harness: CallHarness | undefined;
let registrations: TrunkRegistrations | undefined;
afterEach(() => {
  registrations?.close();
  harness?.close();
  harness = undefined;
  registrations = undefined;
});

/** The harness with its trunk registering at a FakeRegistrar that answers with `script`. */
async function registering(script: RegistrarScript): Promise<{ harness: CallHarness; contact: string }> {
  const scene = new CallHarness({
    trunk: REGISTERING_TRUNK,
    inbound: { registrarAddresses: (trunk) => registrations?.registrarAddresses(trunk) ?? [] },
  });
  harness = scene;
  new FakeRegistrar(scene.network, REGISTRAR, script);
  registrations = new TrunkRegistrations({
    link: scene.gatewayUa,
    clock: scene.clock,
    logger: silentLogger,
    metrics: scene.metrics,
    userAgent: 'patchbay/test',
  });
  registrations.apply(scene.config);
  await run(scene.clock, 100);
  const register = trunkSchema.parse({ name: 'carrier', ...REGISTERING_TRUNK }).outbound?.register;
  return { harness: scene, contact: registrationContactUser('carrier', register ?? assert.fail()) };
}

/** The harness with its trunk registered at a FakeRegistrar that grants what is asked. */
async function registered(): Promise<{ harness: CallHarness; contact: string }> {
  const scene = await registering((request) => grant(request, Number(request.get('expires'))));
  assert.equal(registrations?.list()[0]?.state, 'registered');
  return scene;
}

describe('calls on a registration trunk', () => {
  it("are the trunk's calls from its registrar's address when the Request-URI is the registered Contact", async () => {
    const { harness, contact } = await registered();
    const registrar = harness.carrier({ ...REGISTRAR, port: 5091 });
    const call = registrar.call({ requestUser: contact, to: CALLED });
    await flush();
    assert.equal((await call.outcome).kind, 'answered');
    const observed = harness.observed(0);
    assert.equal(observed.call.summary().trunk, 'carrier');
    assert.equal(observed.call.to, CALLED, 'the To user is the called number');
    assert.equal(harness.bots.connected[0]?.call.to, CALLED);
    await call.bye();
    await flush();

    const guessed = registrar.call({ requestUser: 'pb-000000000000000000000000', to: CALLED });
    await flush();
    const outcome = await guessed.outcome;
    assert.equal(outcome.kind === 'failed' && outcome.status, 403, 'another Request-URI is no call of its');
  });

  it('are taken from a registrar configured by IP address before it has answered our first REGISTER', async () => {
    // After a restart, the registrar may send calls on our earlier binding (the same Contact).
    const { harness: scene, contact } = await registering(() => undefined);
    assert.equal(registrations?.list()[0]?.state, 'registering', 'no answer yet');
    const call = scene.carrier({ ...REGISTRAR, port: 5091 }).call({ requestUser: contact, to: CALLED });
    await flush();
    assert.equal((await call.outcome).kind, 'answered');
    assert.equal(scene.observed(0).call.summary().trunk, 'carrier');
    await call.bye();
    await flush();
  });

  it('are refused like an unknown source from an address that is neither its registrar nor in its CIDRs', async () => {
    const { harness, contact } = await registered();
    const stranger = harness.carrier(CARRIER_A);
    const call = stranger.call({ requestUser: contact, to: CALLED });
    await flush();
    const outcome = await call.outcome;
    assert.equal(outcome.kind === 'failed' && outcome.status, 403, 'the trunk answers unknown sources 403');
    const end = harness.observed(0).ends[0]?.end;
    assert.equal(end?.cause, 'rejected_source');
    assert.equal(end?.detail, "not trunk carrier's registrar");
    assert.equal(harness.bots.connected.length, 0);
  });

  it("are taken from the trunk's own inbound CIDRs, the carrier's proxies other than the registrar", async () => {
    const { harness, contact } = await registered();
    const proxy = harness.carrier({ transport: 'udp', address: '10.1.2.3', port: 5060 });
    const call = proxy.call({ requestUser: contact, to: CALLED });
    await flush();
    assert.equal((await call.outcome).kind, 'answered');
    assert.equal(harness.observed(0).call.summary().trunk, 'carrier');
    assert.equal(harness.observed(0).call.to, CALLED);
    await call.bye();
    await flush();
  });
});

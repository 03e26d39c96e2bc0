/**
 * Calls on a registration-based trunk, in-process (helpers/call-harness.ts): an INVITE whose
 * Request-URI is the Contact the trunk registers is that trunk's call from a source no CIDR
 * of it names, and calls the To user; any other Request-URI from that source is refused.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { trunkSchema } from '../../src/config/index.js';
import { registrationContactUser } from '../../src/trunks/index.js';
import { CALLED, CARRIER_A, CallHarness, flush } from './helpers/call-harness.js';

const REGISTERING_TRUNK = {
  // The carrier's address (CARRIER_A, 127.0.0.1) is in none of the trunk's CIDRs.
  inbound: { allowedCidrs: ['10.0.0.0/8'], unknownSourceAction: 403 as const },
  outbound: {
    gateways: [{ host: 'sip.carrier.example' }],
    register: { registrar: 'sip.carrier.example', username: 'u', password: 'p' },
  },
};

let harness: CallHarness | undefined;
afterEach(() => {
  harness?.close();
  harness = undefined;
});

describe('calls on a registration trunk', () => {
  it("are the trunk's calls from any source when the Request-URI is the registered Contact", async () => {
    harness = new CallHarness({ trunk: REGISTERING_TRUNK });
    const carrier = harness.carrier(CARRIER_A);
    const register = trunkSchema.parse({ name: 'carrier', ...REGISTERING_TRUNK }).outbound?.register;
    const contact = registrationContactUser('carrier', register ?? assert.fail());

    const call = carrier.call({ requestUser: contact, to: CALLED });
    await flush();
    assert.equal((await call.outcome).kind, 'answered');
    const observed = harness.observed(0);
    assert.equal(observed.call.summary().trunk, 'carrier');
    assert.equal(observed.call.to, CALLED, 'the To user is the called number');
    assert.equal(harness.bots.connected[0]?.call.to, CALLED);
    await call.bye();
    await flush();

    const stranger = carrier.call({ requestUser: 'pb-000000000000000000000000', to: CALLED });
    await flush();
    const outcome = await stranger.outcome;
    assert.equal(outcome.kind === 'failed' && outcome.status, 403);
    assert.equal(harness.observed(1).ends[0]?.end.cause, 'rejected_source');
  });
});

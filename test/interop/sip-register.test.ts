/**
 * A registration trunk against a real Kamailio registrar (fixtures/kamailio/registrar.cfg:
 * digest against a static password, bindings in memory, Min-Expires 4 s answered with 423):
 * a real `patchbay start` registers over TCP asking for 2 s, retries with the 4 s of the 423
 * and refreshes every 2 s; Kamailio is stopped and started again (its bindings are gone), and
 * patchbay's refreshes fail with a growing backoff until it is registered again; then a SIPp
 * caller sends an INVITE to the registered address-of-record through Kamailio
 * (lookup("location"), t_relay), which reaches patchbay on our Contact and is answered by the
 * test bot as the registration trunk's call, though its source also matches another trunk.
 * Stopping patchbay removes the binding.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callThroughKamailio, skipWithoutKamailio } from './helpers/kamailio.js';
import {
  AOR_USER,
  RegistrarRig,
  registerTrunkYaml,
  registrationAttempts,
  trunkRegistration,
} from './helpers/registrar.js';
import { skipWithoutSipp } from './helpers/sipp.js';
import { waitFor } from './helpers/wait-for.js';

const skip = skipWithoutSipp() || skipWithoutKamailio();

/** How long each logged registration failure said it would wait before the next attempt. */
function retryDelaysMs(logs: string): number[] {
  return logs
    .split('\n')
    .filter((line) => line.includes('"trunk registration failed"'))
    .map((line) => JSON.parse(line) as { time: number; retryAt: string })
    .map((entry) => Date.parse(entry.retryAt) - entry.time);
}

test('registers at Kamailio (423, digest), refreshes, re-registers after a restart with backoff, and takes a call on its Contact', {
  skip,
  timeout: 60_000,
}, async () => {
  const trunks = (port: number) => ({
    kamailio: registerTrunkYaml({
      name: 'kamailio',
      port,
      transport: 'tcp',
      expires: 2,
      trustPai: true,
      passHeaders: ['User-to-User'],
    }),
  });
  await RegistrarRig.run({ trunks }, async (rig) => {
    const { bot, gateway } = rig;
    const attempts = (result: string) => registrationAttempts(gateway, 'kamailio', result);

    // First registration (after a 401 and a 423) and two refreshes, 2 s apart.
    await waitFor(async () => (await attempts('registered')) >= 3, 'registered and refreshed twice', 15_000);
    const registered = await trunkRegistration(gateway, 'kamailio');
    assert.equal(registered?.state, 'registered', rig.context());
    assert.equal(registered?.expiresSec, 4, 'asked for 2 s, retried with the Min-Expires of the 423');
    assert.match(rig.kamailio.logs(), /REGISTER sip:trunk-user@127\.0\.0\.1 .*: saved, Expires 4/);
    assert.match(rig.kamailio.logs(), /challenged/, 'Kamailio challenged the REGISTER');

    // Kamailio goes away with our binding; refreshes fail and back off; it comes back.
    await rig.stopKamailio();
    await waitFor(async () => (await attempts('transport_error')) >= 2, 'two failed attempts', 10_000);
    await rig.startKamailio();
    const before = await attempts('registered');
    await waitFor(async () => (await attempts('registered')) > before, 'registered again', 10_000);
    const delays = retryDelaysMs(gateway.logs());
    assert.ok(delays.length >= 2, rig.context());
    assert.ok(
      delays.every((delayMs, index) => index === 0 || delayMs > (delays[index - 1] ?? 0)),
      `each retry waits longer than the one before: ${delays.join(', ')} ms`,
    );
    assert.equal((await trunkRegistration(gateway, 'kamailio'))?.state, 'registered');

    // A caller reaches the registered address-of-record through Kamailio.
    const call = await callThroughKamailio(rig.kamailio, AOR_USER);
    assert.equal(call.successfulCalls, 1, `${call.errors}\n${rig.context()}`);
    assert.match(
      rig.kamailio.logs(),
      /INVITE for sip:trunk-user@.* relayed to sip:pb-[0-9a-f]{24}@127\.0\.0\.1:/,
    );
    assert.equal(bot.calls.length, 1, 'the call reached the bot');
    // The caller's identity headers in the bot's start (the trunk is trusted with PAI).
    const {
      sipFrom,
      sipPAssertedIdentity,
      sipPrivacy,
      sipVerstat,
      sipAttestation,
      'sipHeader_User-to-User': userToUser,
      test: routeParameter,
    } = bot.calls[0]?.customParameters ?? {};
    assert.match(sipFrom ?? '', /^"sipp" <sip:sipp@127\.0\.0\.1:\d+>$/);
    assert.equal(
      sipPAssertedIdentity,
      '<sip:+15551230000@127.0.0.1;user=phone>, <tel:+15551230000;verstat=TN-Validation-Passed>',
    );
    assert.equal(sipPrivacy, 'none');
    // STIR/SHAKEN, through Kamailio: the verdict in the tel identity, the PASSporT's attestation.
    assert.equal(sipVerstat, 'TN-Validation-Passed');
    assert.equal(sipAttestation, 'A');
    // A header the trunk's passHeaders names (RFC 7433 User-to-User), through Kamailio.
    assert.equal(userToUser, '56a390f3d2b7310023a2;encoding=hex;purpose=isdn-uui;content=isdn-uui');
    assert.equal(routeParameter, 'e2e', "the route's own parameters are still there");
    await waitFor(async () => gateway.records().length === 1, 'the call record', 5000);
    const { trunk, to } = gateway.records()[0] ?? {};
    assert.equal(trunk, 'kamailio', "the registration trunk's call, not the loopback trunk's");
    assert.equal(to, AOR_USER, 'the called number is the To user');

    // Stopping removes the binding (REGISTER with Expires: 0).
    await gateway.stop();
    assert.match(rig.kamailio.logs(), /REGISTER sip:trunk-user@127\.0\.0\.1 .*: saved, Expires 0/);
  });
});

/**
 * A registration over TCP whose connection closes, against a real Kamailio registrar
 * (fixtures/kamailio/registrar.cfg: bindings in memory, lost on restart). A real
 * `patchbay start` registers for 60 s, so its own refresh is 30 s away; Kamailio is restarted,
 * which closes the connection our REGISTER went over and forgets our binding. patchbay
 * registers again over a new connection within seconds (RFC 5626 §4.4.1's flow failure,
 * src/sip/registration-flow.ts), and a SIPp caller reaches the trunk through Kamailio long
 * before the refresh would have come. Without that, Kamailio answers such a call 404 until then.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callThroughKamailio, type KamailioHandle, skipWithoutKamailio } from './helpers/kamailio.js';
import { AOR_USER, RegistrarRig, registerTrunkYaml } from './helpers/registrar.js';
import { skipWithoutSipp } from './helpers/sipp.js';
import { waitFor } from './helpers/wait-for.js';

const skip = skipWithoutSipp() || skipWithoutKamailio();
/** Our own refresh comes at half the 60 s granted: the test is over well before. */
const EXPIRES_SEC = 60;

/** Bindings Kamailio logged as saved with this interval. */
function saves(kamailio: KamailioHandle): number {
  return kamailio.logs().split(`: saved, Expires ${EXPIRES_SEC}`).length - 1;
}

test('a registrar restart closes our TCP connection: registered again within seconds, and its calls come through', {
  skip,
  timeout: 60_000,
}, async () => {
  const trunks = (port: number) => ({
    kamailio: registerTrunkYaml({ name: 'kamailio', port, transport: 'tcp', expires: EXPIRES_SEC }),
  });
  await RegistrarRig.run({ trunks }, async (rig) => {
    await waitFor(async () => saves(rig.kamailio) >= 1, 'registered for 60 s', 10_000);

    await rig.stopKamailio();
    const restartedAt = Date.now();
    await rig.startKamailio();
    await waitFor(async () => saves(rig.kamailio) >= 1, 'registered again after the restart', 15_000);
    const afterMs = Date.now() - restartedAt;
    assert.ok(afterMs < 15_000, `registered again ${afterMs} ms after the restart, not at the 30 s refresh`);
    assert.match(
      rig.gateway.logs(),
      /connection to the registrar closed; binding refreshed over a new one/,
      rig.context(),
    );

    const call = await callThroughKamailio(rig.kamailio, AOR_USER);
    assert.equal(call.successfulCalls, 1, `${call.errors}\n${rig.context()}`);
    assert.equal(rig.bot.calls.length, 1, 'the call reached the bot');
    assert.ok(Date.now() - restartedAt < EXPIRES_SEC * 500, 'before our own refresh would have come');
  });
});

/**
 * A registration over UDP through a NAT, against a real Kamailio registrar
 * (fixtures/kamailio/registrar.cfg). The gateway advertises `publicAddress: 127.0.0.5`, where
 * nothing answers, while it sends from 127.0.0.1, as a host behind a NAT would. Kamailio's 200
 * says so in the top Via (RFC 3581 `received`, `rport`): patchbay moves its binding at once to a
 * Contact at 127.0.0.1 (removing the one at 127.0.0.5 in the same REGISTER), shows that address
 * in `GET /v1/trunks`, sends Kamailio a CRLF keep-alive every `keepAliveSec` (seen by tshark),
 * and a SIPp call to the address-of-record through Kamailio reaches it there, is answered with
 * a Contact at that address too, and ends with SIPp's BYE, which comes back the same way.
 *
 * The same over TCP: the REGISTER's connection comes from an ephemeral port of 127.0.0.1, so the
 * binding moves to that public end of the connection (`;transport=tcp`), which nothing listens
 * on either; Kamailio reuses the connection by its address and port, so the call and its BYE
 * come over the connection we opened, as through a NAT that lets no connection in.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { callThroughKamailio, skipWithoutKamailio } from './helpers/kamailio.js';
import {
  AOR_USER,
  assertEndedByCaller,
  type RegisterTrunk,
  RegistrarRig,
  registerTrunkYaml,
  trunkRegistration,
} from './helpers/registrar.js';
import { skipWithoutSipp } from './helpers/sipp.js';
import { captureLoopback } from './helpers/tshark.js';
import { waitFor } from './helpers/wait-for.js';

const skip =
  skipWithoutSipp() ||
  skipWithoutKamailio() ||
  skipUnlessPresent(commandAvailable('tshark', ['-v']), 'needs tshark');
/** Where the gateway says it is: a loopback address nothing listens on, as a private address behind a NAT. */
const ADVERTISED = '127.0.0.5';

/** A trunk registering for 60 s over `transport`, with a keep-alive every second, from behind the NAT. */
function natted(transport: RegisterTrunk['transport']) {
  return {
    trunks: (port: number) => ({
      natted: registerTrunkYaml({ name: 'natted', port, transport, expires: 60, keepAliveSec: 1 }),
    }),
    gateway: { extraGatewayYaml: `publicAddress: ${ADVERTISED}` },
  };
}

test('behind a NAT over UDP: the binding moves to the address the registrar sees, kept open, and calls reach it', {
  skip,
  timeout: 60_000,
}, async () => {
  await RegistrarRig.run(natted('udp'), async (rig) => {
    const { gateway, kamailio } = rig;
    // CRLF CRLF datagrams to Kamailio: a UDP length of 8 + 4.
    const keepAlives = captureLoopback(`udp and dst port ${rig.kamailioPort} and udp[4:2] = 12`, [
      'udp.srcport',
    ]);
    try {
      await keepAlives.ready;
      const ours = `127.0.0.1:${gateway.sipPort}`;
      await waitFor(
        async () => (await trunkRegistration(gateway, 'natted'))?.publicAddress === ours,
        'the binding moved to the address Kamailio saw',
        15_000,
      );
      assert.equal((await trunkRegistration(gateway, 'natted'))?.state, 'registered', rig.context());
      // The first binding named the advertised address; the move named ours first and removed it.
      assert.match(
        kamailio.logs(),
        new RegExp(`saved, Expires 60, Contact <sip:pb-[0-9a-f]{24}@${ADVERTISED.replaceAll('.', '\\.')}:`),
      );
      assert.match(
        kamailio.logs(),
        new RegExp(`saved, Expires 60, Contact <sip:pb-[0-9a-f]{24}@127\\.0\\.0\\.1:${gateway.sipPort}>`),
      );
      assert.match(gateway.logs(), /registrar sees us behind a NAT; Contact moved/);

      const call = await callThroughKamailio(kamailio, AOR_USER);
      assert.equal(call.successfulCalls, 1, `${call.errors}\n${rig.context()}`);
      assert.match(
        kamailio.logs(),
        new RegExp(
          `INVITE for sip:trunk-user@.* relayed to sip:pb-[0-9a-f]{24}@127\\.0\\.0\\.1:${gateway.sipPort}`,
        ),
      );
      assert.equal(rig.bot.calls.length, 1, 'the call reached the bot');
      // Our 200 OK named the address Kamailio saw too: SIPp's BYE came back through Kamailio.
      await assertEndedByCaller(gateway, () => rig.context());

      // Keep-alives from the gateway's SIP port, about one a second.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const seen = (await keepAlives.stop()).filter(([source]) => source === String(gateway.sipPort));
      assert.ok(seen.length >= 2, `${seen.length} keep-alives to Kamailio\n${rig.context()}`);
    } finally {
      await keepAlives.stop().catch(() => undefined);
    }
  });
});

test('behind a NAT over TCP: the binding moves to the public end of our connection, and calls come over it', {
  skip,
  timeout: 60_000,
}, async () => {
  await RegistrarRig.run(natted('tcp'), async (rig) => {
    const { gateway, kamailio } = rig;
    await waitFor(
      async () =>
        (await trunkRegistration(gateway, 'natted'))?.publicAddress?.startsWith('127.0.0.1:') ?? false,
      'the binding moved to the public end of the connection',
      15_000,
    );
    const publicPort = Number((await trunkRegistration(gateway, 'natted'))?.publicAddress?.split(':')[1]);
    assert.notEqual(publicPort, gateway.sipPort, 'the connection, not our listening port');
    assert.match(
      kamailio.logs(),
      new RegExp(
        `saved, Expires 60, Contact <sip:pb-[0-9a-f]{24}@127\\.0\\.0\\.1:${publicPort};transport=tcp>`,
      ),
      rig.context(),
    );

    const call = await callThroughKamailio(kamailio, AOR_USER);
    assert.equal(call.successfulCalls, 1, `${call.errors}\n${rig.context()}`);
    assert.match(
      kamailio.logs(),
      new RegExp(
        `INVITE for sip:trunk-user@.* relayed to sip:pb-[0-9a-f]{24}@127\\.0\\.0\\.1:${publicPort};transport=tcp`,
      ),
    );
    assert.equal(rig.bot.calls.length, 1, 'the call reached the bot');
    await assertEndedByCaller(gateway, () => rig.context());
  });
});

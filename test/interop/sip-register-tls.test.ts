/**
 * A registration trunk over TLS against a real Kamailio registrar (fixtures/kamailio/registrar.cfg
 * with WITH_TLS): a real `patchbay start` registers over TLS, checking Kamailio's certificate
 * against the trunk's `tlsCaFile` and the registrar's address; a SIPp caller's INVITE to the
 * address-of-record is relayed by Kamailio over TLS to our Contact (`;transport=tls`) and
 * answered by the test bot. With a CA that did not sign Kamailio's certificate, no REGISTER is
 * sent: the handshake fails and is counted. Behind a NAT (the gateway advertises 127.0.0.5,
 * where nothing listens), the binding moves to the public end of our TLS connection and the
 * call comes over it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { skipUnlessPresent } from '../helpers/peers.js';
import { opensslAvailable, type PemPair, TestPki } from '../helpers/test-pki.js';
import { callThroughKamailio, skipWithoutKamailioTls } from './helpers/kamailio.js';
import {
  AOR_USER,
  assertEndedByCaller,
  metricValue,
  RegistrarRig,
  registerTrunkYaml,
  registrationAttempts,
} from './helpers/registrar.js';
import { skipWithoutSipp } from './helpers/sipp.js';
import { waitFor } from './helpers/wait-for.js';

const skip =
  skipWithoutSipp() || skipWithoutKamailioTls() || skipUnlessPresent(opensslAvailable, 'needs openssl');

describe('a registration trunk over TLS, against Kamailio', { skip }, () => {
  let pki: TestPki;
  let otherCa: TestPki;
  let registrar: PemPair;
  let ours: PemPair;

  before(() => {
    pki = TestPki.create();
    otherCa = TestPki.create();
    registrar = pki.issue('kamailio', { san: ['IP:127.0.0.1'] });
    ours = pki.issue('patchbay', { san: ['DNS:localhost', 'IP:127.0.0.1'] });
  });

  after(() => {
    pki?.close();
    otherCa?.close();
  });

  /**
   * Kamailio with its TLS listener, and a gateway with one whose trunk registers there trusting
   * `caFile`, with `extraGatewayYaml` in its gateway file.
   */
  function withRig(caFile: string, body: (rig: RegistrarRig) => Promise<void>, extraGatewayYaml?: string) {
    return RegistrarRig.run(
      {
        trunks: (port) => ({
          kamailio: registerTrunkYaml({ name: 'kamailio', port, transport: 'tls', expires: 60, caFile }),
        }),
        tls: { certFile: registrar.certFile, keyFile: registrar.keyFile },
        gateway: {
          tls: { certFile: ours.certFile, keyFile: ours.keyFile },
          ...(extraGatewayYaml ? { extraGatewayYaml } : {}),
        },
      },
      body,
    );
  }

  it('registers over TLS, and a call relayed over TLS to its Contact is answered', {
    timeout: 40_000,
  }, async () => {
    await withRig(pki.ca.certFile, async (rig) => {
      const { gateway, kamailio } = rig;
      await waitFor(
        async () => (await registrationAttempts(gateway, 'kamailio', 'registered')) >= 1,
        'registered',
        15_000,
      );
      assert.match(
        kamailio.logs(),
        /REGISTER sip:trunk-user@127\.0\.0\.1 from 127\.0\.0\.1:\d+ over tls: saved/,
      );

      const call = await callThroughKamailio(kamailio, AOR_USER);
      assert.equal(call.successfulCalls, 1, `${call.errors}\n${rig.context()}`);
      const relayed = `relayed to sip:pb-[0-9a-f]{24}@127\\.0\\.0\\.1:${gateway.tlsPort};transport=tls`;
      assert.match(kamailio.logs(), new RegExp(`INVITE for sip:trunk-user@.* ${relayed}`));
      assert.equal(rig.bot.calls.length, 1, 'the call reached the bot');
      const [record] = await gateway.recordsWhen((records) => records.length === 1);
      assert.equal(record?.['trunk'], 'kamailio', rig.context());

      await gateway.stop();
      assert.match(kamailio.logs(), /REGISTER sip:trunk-user@127\.0\.0\.1 .* over tls: saved, Expires 0/);
    });
  });

  it('behind a NAT: the binding moves to the public end of our TLS connection, and the call comes over it', {
    timeout: 40_000,
  }, async () => {
    await withRig(
      pki.ca.certFile,
      async (rig) => {
        const { gateway, kamailio } = rig;
        const publicEnd = /saved, Expires 60, Contact <sip:pb-[0-9a-f]{24}@127\.0\.0\.1:(\d+);transport=tls>/;
        await waitFor(async () => publicEnd.test(kamailio.logs()), 'the binding moved', 15_000);
        const port = Number(publicEnd.exec(kamailio.logs())?.[1]);
        assert.notEqual(port, gateway.tlsPort, 'the connection, not our TLS listener');

        const call = await callThroughKamailio(kamailio, AOR_USER);
        assert.equal(call.successfulCalls, 1, `${call.errors}\n${rig.context()}`);
        const relayed = `relayed to sip:pb-[0-9a-f]{24}@127\\.0\\.0\\.1:${port};transport=tls`;
        assert.match(kamailio.logs(), new RegExp(`INVITE for sip:trunk-user@.* ${relayed}`));
        assert.equal(rig.bot.calls.length, 1, 'the call reached the bot');
        await assertEndedByCaller(gateway, () => rig.context());
      },
      'publicAddress: 127.0.0.5',
    );
  });

  it('sends no REGISTER to a registrar whose certificate its tlsCaFile did not sign', {
    timeout: 30_000,
  }, async () => {
    await withRig(otherCa.ca.certFile, async (rig) => {
      const { gateway } = rig;
      const refused =
        /^patchbay_sip_tls_handshake_failures_total\{reason="certificate",direction="outbound"\} (\d+)/m;
      await waitFor(async () => (await metricValue(gateway, refused)) >= 1, 'a refused handshake', 15_000);
      assert.ok(
        (await registrationAttempts(gateway, 'kamailio', 'transport_error')) >= 1,
        gateway.logs().slice(-3000),
      );
      assert.equal(await registrationAttempts(gateway, 'kamailio', 'registered'), 0);
      assert.doesNotMatch(rig.kamailio.logs(), /REGISTER sip:trunk-user@/, 'Kamailio saw no REGISTER');
    });
  });
});

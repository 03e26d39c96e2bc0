/**
 * Caller ID through whole calls, in-process (helpers/call-harness.ts): the identity headers an
 * outbound INVITE carries from the trunk's `outbound.callerId` and a call's overrides (an
 * anonymous call's From and P-Asserted-Identity, RFC 3323 §4.1.1.3 / RFC 3325), and the
 * caller identity an inbound call hands the bot, P-Asserted-Identity only from trusted trunks.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { TrunkFileInput } from '../../src/config/index.js';
import type { InboundSession } from '../../src/sip/call-legs.js';
import { answerWith, CARRIER_A, CallHarness, flush } from './helpers/call-harness.js';

const OUTBOUND: TrunkFileInput['outbound'] = {
  gateways: [{ name: 'a', host: CARRIER_A.address, port: CARRIER_A.port }],
  fromHost: 'pbx.example',
  callerId: {
    assertedIdentity: '+15550001111',
    diversion: { identity: 'sip:+15559990000@pbx.example;user=phone', reason: 'no-answer' },
    remotePartyId: true,
  },
};

const IDENTITY_HEADERS: Array<[string, string]> = [
  ['P-Asserted-Identity', '<sip:+15551230000@carrier.example;user=phone>'],
  ['Privacy', 'id'],
  ['Diversion', '<sip:+15559990000@carrier.example>;reason=user-busy;counter=1'],
  ['Remote-Party-ID', '<sip:+15551230000@carrier.example>;party=calling;screen=yes;privacy=full'],
];

let harness: CallHarness | undefined;
afterEach(() => {
  harness?.close();
  harness = undefined;
});

async function dialled(
  trunk: Partial<TrunkFileInput>,
  callerId?: Parameters<CallHarness['originate']>[1],
  to = '+15559876543',
  headers?: Parameters<CallHarness['originate']>[2],
) {
  harness?.close();
  harness = new CallHarness({ trunk });
  const carrier = harness.carrier(CARRIER_A, answerWith('PCMA'));
  const { observed, run } = harness.originate(to, callerId, headers);
  await run;
  await flush();
  const invite = (carrier.incoming[0] ?? assert.fail('the carrier got no INVITE')).invite;
  assert.equal(observed.call.state, 'answered');
  return invite;
}

describe('caller ID on outbound calls', () => {
  it("sends the trunk's P-Asserted-Identity, Diversion and Remote-Party-ID, E.164 numbers as user=phone URIs", async () => {
    const invite = await dialled({ outbound: OUTBOUND });
    assert.equal(invite.from().uri.user, '+15551230000');
    assert.equal(invite.get('p-asserted-identity'), '<sip:+15550001111@pbx.example;user=phone>');
    assert.equal(
      invite.get('diversion'),
      '<sip:+15559990000@pbx.example;user=phone>;reason=no-answer;counter=1',
    );
    assert.equal(
      invite.get('remote-party-id'),
      '<sip:+15550001111@pbx.example;user=phone>;party=calling;screen=yes;privacy=off',
    );
    assert.equal(invite.get('privacy'), undefined);
  });

  it("carries the API's X- and User-to-User headers after the caller-ID ones", async () => {
    const invite = await dialled({ outbound: OUTBOUND }, undefined, undefined, [
      ['X-Campaign', '42'],
      ['User-to-User', '56a390f3;encoding=hex'],
    ]);
    assert.equal(invite.get('x-campaign'), '42');
    assert.equal(invite.get('user-to-user'), '56a390f3;encoding=hex');
    assert.ok(invite.get('p-asserted-identity'), 'the caller ID is still there');
  });

  it("carries the trunk's outbound.headers, a call's header of the same name replacing the trunk's", async () => {
    const invite = await dialled(
      {
        outbound: {
          ...OUTBOUND,
          headers: { 'P-Charge-Info': '<sip:+15550100@pbx.example>', 'X-Campaign': '1' },
        },
      },
      undefined,
      undefined,
      [['x-campaign', '2']],
    );
    assert.equal(invite.get('p-charge-info'), '<sip:+15550100@pbx.example>');
    assert.deepEqual(invite.getAll('x-campaign'), ['2']);
  });

  it('a call asking for Privacy: id goes out as Anonymous with the real caller asserted', async () => {
    const invite = await dialled(
      { outbound: { ...OUTBOUND, callerId: {} } },
      { privacy: ['id'], diversion: { identity: '+15557770000', reason: 'unconditional' } },
    );
    assert.equal(invite.get('from')?.replace(/;tag=.*/, ''), '"Anonymous" <sip:anonymous@anonymous.invalid>');
    assert.equal(invite.get('p-asserted-identity'), '<sip:+15551230000@pbx.example>');
    assert.equal(invite.get('privacy'), 'id');
    assert.equal(
      invite.get('diversion'),
      '<sip:+15557770000@pbx.example;user=phone>;reason=unconditional;counter=1',
    );
  });

  it("a call's override replaces the trunk's values field by field", async () => {
    const invite = await dialled({ outbound: OUTBOUND }, { assertedIdentity: 'sip:sales@pbx.example' });
    assert.equal(invite.get('p-asserted-identity'), '<sip:sales@pbx.example>');
    assert.match(invite.get('diversion') ?? '', /^<sip:\+15559990000@pbx\.example;user=phone>/);
  });
});

describe('user=phone on outbound calls (RFC 3261 §19.1.1)', () => {
  const GATEWAY = `${CARRIER_A.address}:${CARRIER_A.port}`;
  const bare = (value: string | undefined) => value?.replace(/;tag=.*/, '');

  it('marks a telephone number in the Request-URI, To and From with outbound.userPhone', async () => {
    const invite = await dialled({ outbound: { ...OUTBOUND, callerId: {}, userPhone: true } });
    assert.equal(invite.uri, `sip:+15559876543@${GATEWAY};user=phone`);
    assert.equal(invite.get('to'), `<sip:+15559876543@${CARRIER_A.address};user=phone>`);
    assert.equal(bare(invite.get('from')), '<sip:+15551230000@pbx.example;user=phone>');
  });

  it('also the caller asserted for an anonymous call; a user part that is no global number stays bare', async () => {
    const outbound = { ...OUTBOUND, callerId: {}, userPhone: true, fromUser: 'reception' };
    const named = await dialled({ outbound }, { privacy: ['id'] }, 'sales');
    assert.equal(named.uri, `sip:sales@${GATEWAY}`);
    assert.equal(named.get('to'), `<sip:sales@${CARRIER_A.address}>`);
    assert.equal(named.get('p-asserted-identity'), '<sip:reception@pbx.example>');
    const anonymous = await dialled(
      { outbound: { ...outbound, fromUser: '+15551230000' } },
      { privacy: ['id'] },
    );
    assert.equal(anonymous.get('p-asserted-identity'), '<sip:+15551230000@pbx.example;user=phone>');
    // A local number would need a phone-context (RFC 3966 §5.1.5): no user=phone for it.
    const local = await dialled({ outbound: { ...outbound, fromUser: '5551230000' } }, { privacy: ['id'] });
    assert.equal(local.get('p-asserted-identity'), '<sip:5551230000@pbx.example>');
  });

  it('leaves the URIs bare by default', async () => {
    const invite = await dialled({ outbound: { ...OUTBOUND, callerId: {} } });
    assert.equal(invite.uri, `sip:+15559876543@${GATEWAY}`);
    assert.equal(invite.get('to'), `<sip:+15559876543@${CARRIER_A.address}>`);
    assert.equal(bare(invite.get('from')), '<sip:+15551230000@pbx.example>');
  });
});

describe('caller identity handed to the bot', () => {
  async function inboundCall(trustPai: boolean, headers = IDENTITY_HEADERS) {
    harness = new CallHarness({ trunk: { trustPai } });
    const carrier = harness.carrier(CARRIER_A, (_session: InboundSession) => undefined);
    const call = carrier.call({ headers });
    await flush();
    assert.equal((await call.outcome).kind, 'answered');
    const bot = harness.bots.connected[0] ?? assert.fail('no bot');
    await call.bye();
    await flush();
    return bot.call.callerIdentity;
  }

  it('gives From, P-Asserted-Identity, Privacy, Diversion and Remote-Party-ID from a trusted trunk', async () => {
    assert.deepEqual(await inboundCall(true), {
      sipFrom: '<sip:+15551230000@127.0.0.1>',
      sipPAssertedIdentity: '<sip:+15551230000@carrier.example;user=phone>',
      sipPrivacy: 'id',
      sipDiversion: '<sip:+15559990000@carrier.example>;reason=user-busy;counter=1',
      sipRemotePartyId: '<sip:+15551230000@carrier.example>;party=calling;screen=yes;privacy=full',
    });
  });

  it('drops the P-Asserted-Identity and Remote-Party-ID of a trunk outside the trust domain (RFC 3325 §2.3)', async () => {
    const identity = await inboundCall(false);
    assert.equal(identity?.sipPAssertedIdentity, undefined);
    assert.equal(identity?.sipRemotePartyId, undefined);
    assert.equal(identity?.sipPrivacy, 'id');
    assert.ok(identity?.sipFrom);
  });

  it("hands on the headers the trunk's passHeaders names, as sipHeader_<name>, and no others", async () => {
    harness = new CallHarness({ trunk: { passHeaders: ['User-to-User', 'X-Customer-Id', 'X-Absent'] } });
    const carrier = harness.carrier(CARRIER_A, (_session: InboundSession) => undefined);
    const call = carrier.call({
      headers: [
        ['User-to-User', '56a390f3d2b7310023a2;encoding=hex;purpose=isdn-uui'],
        ['X-Customer-Id', 'c-1234\u0007'],
        ['X-Customer-Id', 'c-5678'],
        ['X-Other', 'not named'],
      ],
    });
    await flush();
    assert.equal((await call.outcome).kind, 'answered');
    const identity = harness.bots.connected[0]?.call.callerIdentity ?? assert.fail('no bot');
    await call.bye();
    await flush();
    assert.equal(identity['sipHeader_User-to-User'], '56a390f3d2b7310023a2;encoding=hex;purpose=isdn-uui');
    assert.equal(
      identity['sipHeader_X-Customer-Id'],
      'c-1234, c-5678',
      'lines joined, control characters out',
    );
    assert.equal(identity['sipHeader_X-Absent'], undefined);
    assert.equal(identity['sipHeader_X-Other'], undefined);
  });

  it('gives the STIR/SHAKEN verdict and attestation from a trusted trunk only, and records them', async () => {
    const claims = {
      attest: 'A',
      dest: { tn: ['15559876543'] },
      iat: 1,
      orig: { tn: '15551230000' },
      origid: 'x',
    };
    const passport = [
      { alg: 'ES256', ppt: 'shaken', typ: 'passport', x5u: 'https://cert.example/a.cer' },
      claims,
    ]
      .map((part) => Buffer.from(JSON.stringify(part)).toString('base64url'))
      .join('.');
    const headers: Array<[string, string]> = [
      ['P-Asserted-Identity', '<tel:+15551230000;verstat=TN-Validation-Passed>'],
      ['Identity', `${passport}.c2ln;info=<https://cert.example/a.cer>;alg=ES256;ppt=shaken`],
    ];
    const trusted = await inboundCall(true, headers);
    assert.equal(trusted?.sipVerstat, 'TN-Validation-Passed');
    assert.equal(trusted?.sipAttestation, 'A');
    // The call record keeps what the bot was told.
    const record = () => harness?.calls[0]?.ends[0]?.record;
    assert.deepEqual(record()?.stirShaken, { verstat: 'TN-Validation-Passed', attestation: 'A' });
    harness?.close();
    const untrusted = await inboundCall(false, headers);
    assert.equal(untrusted?.sipVerstat, undefined);
    assert.equal(untrusted?.sipAttestation, undefined);
    assert.ok(record(), 'the untrusted call has its record');
    assert.equal(record()?.stirShaken, undefined);
  });
});

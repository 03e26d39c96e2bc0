/**
 * Caller-ID policy: `POST /v1/calls` overrides validated like the trunk config (SIP URI or
 * E.164, known privacy values and reasons, nothing that could inject a header), merged over
 * the trunk's settings, and the inbound identity parameters the bot gets.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gatewayFileSchema, makeSnapshot, parseCallerIdentity, trunkSchema } from '../../src/config/index.js';
import type { OriginateRequest } from '../../src/control/backend.js';
import { outboundCaller } from '../../src/gateway/caller-id.js';
import { type ControlledGateway, GatewayControl, OriginateError } from '../../src/gateway/control-adapter.js';
import type { OutboundRequest } from '../../src/gateway/ports.js';

const trunk = trunkSchema.parse({
  name: 'carrier',
  outbound: { gateways: [{ host: 'g' }], callerId: { assertedIdentity: '+15550001111', privacy: ['none'] } },
});

/** A GatewayControl over a gateway stand-in that records what it was asked to dial. */
function control(): { api: GatewayControl; placed: OutboundRequest[] } {
  const placed: OutboundRequest[] = [];
  const config = makeSnapshot(gatewayFileSchema.parse({}), [trunk]);
  const gateway = {
    draining: false,
    config: () => config,
    originate: async (request: OutboundRequest) => {
      placed.push(request);
      return { summary: () => ({ id: 'call', from: request.from, to: request.to }) };
    },
  };
  // Originating reads only these; the rest of the gateway is never reached.
  return { api: new GatewayControl(gateway as unknown as ControlledGateway), placed };
}

const REQUEST: OriginateRequest = {
  from: '+15551230000',
  to: '+15559876543',
  stream: { url: 'ws://bot.test/' },
};

describe('caller identities', () => {
  it('are E.164 numbers or SIP URIs that cannot end a header', () => {
    assert.deepEqual(parseCallerIdentity('+15551230000'), { kind: 'e164', number: '+15551230000' });
    assert.equal(parseCallerIdentity('sips:+1555@[2001:db8::1]:5061;user=phone')?.kind, 'uri');
    for (const bad of [
      '15551230000',
      '+0155',
      '+1234567890123456',
      'tel:+15551230000',
      'sip:a@b\r\nX-Injected: 1',
      'sip:a@b>',
      'sip:a@b, <sip:c@d>',
      'sip:a@b?Subject=x',
      'sip:a b@c',
      '"Bob" <sip:b@c>',
      `sip:${'a'.repeat(300)}@b`,
    ])
      assert.equal(parseCallerIdentity(bad), undefined, JSON.stringify(bad));
  });
});

describe('POST /v1/calls callerId', () => {
  it('passes a valid override on to the call', async () => {
    const { api, placed } = control();
    await api.originate({
      ...REQUEST,
      callerId: { privacy: ['id'], diversion: { identity: '+15557770000' } },
    });
    assert.deepEqual(placed[0]?.callerId, {
      privacy: ['id'],
      diversion: { identity: '+15557770000', reason: 'unconditional' },
    });
  });

  it('answers 400 naming the field for header injection, unknown privacy values and reasons', async () => {
    const { api, placed } = control();
    const refused = async (callerId: OriginateRequest['callerId'], field: RegExp) => {
      const error = await api.originate({ ...REQUEST, callerId }).catch((caught: unknown) => caught);
      assert.ok(error instanceof OriginateError, JSON.stringify(callerId));
      assert.equal(error.status, 400);
      assert.match(error.message, field);
    };
    await refused({ assertedIdentity: 'sip:a@b\r\nX-Injected: 1' }, /^callerId\.assertedIdentity: a SIP URI/);
    await refused({ assertedIdentity: 'sip:a@b>;x=<sip:c@d' }, /^callerId\.assertedIdentity/);
    await refused({ privacy: ['id\r\nVia: x'] }, /^callerId\.privacy\.0/);
    await refused({ privacy: ['none', 'id'] }, /^callerId\.privacy: 'none' cannot be combined/);
    await refused(
      { diversion: { identity: '+15557770000', reason: 'bored' } },
      /^callerId\.diversion\.reason/,
    );
    assert.equal(placed.length, 0, 'nothing was dialled');
  });
});

describe('outboundCaller', () => {
  it("merges a call's override over the trunk field by field", () => {
    const plain = outboundCaller(trunk, undefined, 'sip:+15551230000@pbx.example', 'pbx.example');
    assert.equal(plain.from, '<sip:+15551230000@pbx.example>');
    assert.deepEqual(plain.headers, [
      ['P-Asserted-Identity', '<sip:+15550001111@pbx.example;user=phone>'],
      ['Privacy', 'none'],
    ]);
    const anonymous = outboundCaller(
      trunk,
      { privacy: ['user'] },
      'sip:+15551230000@pbx.example',
      'pbx.example',
    );
    assert.equal(anonymous.from, '"Anonymous" <sip:anonymous@anonymous.invalid>');
    assert.deepEqual(anonymous.headers, [
      ['P-Asserted-Identity', '<sip:+15550001111@pbx.example;user=phone>'],
      ['Privacy', 'user'],
    ]);
  });
});

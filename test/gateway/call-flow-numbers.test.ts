/**
 * Inbound numbers in the trunk's country (`inboundCountry`) in call flows
 * (helpers/call-harness.ts): a carrier that sends national numbers has its calls matched,
 * streamed and recorded in E.164; without the setting they are taken as they come.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { CARRIER_A, CallHarness, flush } from './helpers/call-harness.js';

let harness: CallHarness | undefined;
afterEach(() => {
  harness?.close();
  harness = undefined;
});

const UK_NUMBERS = { allowedCidrs: ['127.0.0.0/8'], numbers: ['+4420*'] };

describe('inbound numbers in the trunk country', () => {
  it('a national called number matches E.164 numbers and reaches the bot and the record in E.164', async () => {
    harness = new CallHarness({ trunk: { inboundCountry: '44', inbound: UK_NUMBERS } });
    const carrier = harness.carrier(CARRIER_A);
    const session = carrier.call({ requestUser: '02079460018', to: '02079460018' });
    await flush();
    const bot = harness.bots.connected[0] ?? assert.fail('the call did not reach the bot');
    assert.equal(bot.call.to, '+442079460018');
    assert.equal(bot.call.from, '+15551230000', 'a number with its + stays as it is');
    bot.open();
    await flush();
    assert.equal((await session.outcome).kind, 'answered');
    const observed = harness.observed(0);
    observed.call.hangup('api_hangup');
    await flush();
    assert.equal(observed.ends[0]?.record?.to, '+442079460018');
  });

  it('a local number in a phone-context (RFC 3966 §5.1.5) in the Request-URI is read in its context', async () => {
    harness = new CallHarness({ trunk: { inboundCountry: '44', inbound: UK_NUMBERS } });
    const carrier = harness.carrier(CARRIER_A);
    carrier.call({ requestUser: '79460018;phone-context=+44-20', to: '79460018;phone-context=+44-20' });
    await flush();
    const bot = harness.bots.connected[0] ?? assert.fail('the call did not reach the bot');
    assert.equal(bot.call.to, '+442079460018');
  });

  it('without inboundCountry the national number is taken as it comes: not one of the trunk numbers', async () => {
    harness = new CallHarness({ trunk: { inbound: UK_NUMBERS } });
    const carrier = harness.carrier(CARRIER_A);
    const session = carrier.call({ requestUser: '02079460018', to: '02079460018' });
    await flush();
    const outcome = await session.outcome;
    assert.equal(outcome.kind, 'failed');
    if (outcome.kind === 'failed') assert.equal(outcome.cause === 'response' && outcome.status, 403);
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gatewayFileSchema, makeSnapshot, trunkSchema } from '../../src/config/index.js';
import { inboundPolicy } from '../../src/gateway/call-ports.js';
import { DigestSupport } from '../../src/gateway/digest-support.js';
import { InboundMatcher } from '../../src/trunks/index.js';
import { FakeClock } from '../../src/util/index.js';

const ROUTED = { url: 'wss://main.example/bot', auth: { type: 'bearer', token: 'main-token' } };
const BUSY = { url: 'wss://busy.example/bot', auth: { type: 'bearer', token: 'busy-token' } };

test("a CPS reroute's bot gets the credentials of a route to its URL, never the refusing route's", () => {
  const config = makeSnapshot(
    gatewayFileSchema.parse({
      routes: [
        {
          match: '1*',
          target: ROUTED,
          cps: { rate: 1, burst: 1, overflow: { action: 'reroute', rerouteTo: BUSY.url } },
        },
        { match: '2*', target: BUSY },
      ],
    }),
    [trunkSchema.parse({ name: 'local', inbound: { allowedCidrs: ['127.0.0.0/8'] } })],
  );
  const policy = inboundPolicy(
    () => new InboundMatcher(config),
    new DigestSupport(new FakeClock()),
    () => config,
  );
  const [main] = config.gateway.routes;
  const routeTarget = main?.target ?? assert.fail('no route');
  const rerouted = policy.streamTarget(routeTarget, { action: 'reroute', target: BUSY.url });
  assert.equal(rerouted.url, BUSY.url);
  assert.deepEqual(rerouted.auth, BUSY.auth);
  const elsewhere = policy.streamTarget(routeTarget, {
    action: 'reroute',
    target: 'ws://overflow.example/bot',
  });
  assert.equal(elsewhere.url, 'ws://overflow.example/bot');
  assert.equal(elsewhere.auth, undefined, "no route to it: no credentials, and not main's");
  assert.equal(elsewhere.dialect, routeTarget.dialect, 'the stream format is the route’s');
  assert.equal(policy.streamTarget(routeTarget, { action: 'accept', waitedMs: 0 }), routeTarget);
});

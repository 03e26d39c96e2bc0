import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gatewayFileSchema, makeSnapshot, trunkSchema } from '../../src/config/index.js';
import { inboundPolicy, trunkDialer } from '../../src/gateway/call-ports.js';
import { DigestSupport } from '../../src/gateway/digest-support.js';
import type { SipRequest } from '../../src/sip/message.js';
import type { TransportAddress } from '../../src/sip/types.js';
import { SipUserAgent } from '../../src/sip/user-agent.js';
import { InboundMatcher, registrationContactUser } from '../../src/trunks/index.js';
import { FakeClock, silentLogger } from '../../src/util/index.js';
import { MemoryNetwork } from '../sip/helpers/memory-transport.js';

const US: TransportAddress = { transport: 'udp', address: '127.0.0.1', port: 5060 };
const CARRIER: TransportAddress = { transport: 'udp', address: '127.0.0.2', port: 5060 };

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

test('a trunk whose registration moved behind a NAT dials with its Contact where the registrar sees us', async () => {
  const clock = new FakeClock();
  const network = new MemoryNetwork(clock);
  const ua = new SipUserAgent({
    transport: network.bind(US),
    clock,
    logger: silentLogger,
    onInvite: () => {},
  });
  const invites: SipRequest[] = [];
  network.bind(CARRIER).onMessage((message) => {
    if (message.isRequest) invites.push(message);
  });
  const registering = trunkSchema.parse({
    name: 'carrier',
    outbound: {
      gateways: [{ host: '127.0.0.2' }],
      register: { registrar: '127.0.0.2', username: 'u', password: 'p' },
    },
  });
  const plain = trunkSchema.parse({ name: 'plain', outbound: { gateways: [{ host: '127.0.0.2' }] } });
  const register = registering.outbound?.register ?? assert.fail('register');
  ua.contactMoved(registrationContactUser('carrier', register), { address: '203.0.113.9', port: 40_000 });
  const dial = trunkDialer(ua, new DigestSupport(clock));
  const options = (callId: string) => ({
    requestUri: 'sip:+15551230000@127.0.0.2',
    destination: CARRIER,
    from: `<sip:${callId}@127.0.0.1>`,
    to: '<sip:+15551230000@127.0.0.2>',
    sdp: 'v=0\r\n',
  });
  dial(registering, options('natted'));
  dial(plain, options('plain'));
  await new Promise((resolve) => setImmediate(resolve));
  const contactOf = (user: string) =>
    invites.find((invite) => invite.from().uri.user === user)?.get('contact');
  assert.equal(contactOf('natted'), '<sip:patchbay@203.0.113.9:40000>');
  assert.equal(contactOf('plain'), '<sip:patchbay@127.0.0.1:5060>');
  ua.close();
});

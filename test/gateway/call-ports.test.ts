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

test("a registration's moved Contact is used only where it reaches us: its own transport, and over TCP only to the registrar", async () => {
  const clock = new FakeClock();
  const network = new MemoryNetwork(clock);
  const US_TCP: TransportAddress = { ...US, transport: 'tcp' };
  const ua = new SipUserAgent({
    transport: network.bind(US),
    clock,
    logger: silentLogger,
    onInvite: () => {},
  });
  const tcpUa = new SipUserAgent({
    transport: network.bind(US_TCP),
    clock,
    logger: silentLogger,
    onInvite: () => {},
  });
  const invites: SipRequest[] = [];
  const carriers: TransportAddress[] = [
    CARRIER,
    { transport: 'tcp', address: '127.0.0.2', port: 5060 },
    { transport: 'tcp', address: '127.0.0.3', port: 5060 },
  ];
  for (const carrier of carriers)
    network.bind(carrier).onMessage((message) => {
      if (message.isRequest) invites.push(message);
    });
  const trunk = (transport: 'udp' | 'tcp') =>
    trunkSchema.parse({
      name: `over-${transport}`,
      outbound: {
        gateways: [{ host: '127.0.0.2', transport }],
        register: { registrar: '127.0.0.2', username: 'u', password: 'p', transport },
      },
    });
  const [overUdp, overTcp] = [trunk('udp'), trunk('tcp')];
  for (const registering of [overUdp, overTcp]) {
    const register = registering.outbound?.register ?? assert.fail('register');
    ua.contactMoved(registrationContactUser(registering.name, register), {
      address: '203.0.113.9',
      port: 40_000,
    });
    tcpUa.contactMoved(registrationContactUser(registering.name, register), {
      address: '203.0.113.9',
      port: 40_001,
    });
  }
  const options = (callId: string, destination: TransportAddress) => ({
    requestUri: `sip:+15551230000@${destination.address}`,
    destination,
    from: `<sip:${callId}@127.0.0.1>`,
    to: `<sip:+15551230000@${destination.address}>`,
    sdp: 'v=0\r\n',
  });
  const [udpCarrier, registrar, otherHost] = carriers as [
    TransportAddress,
    TransportAddress,
    TransportAddress,
  ];
  trunkDialer(ua, new DigestSupport(clock))(overTcp, options('tcp-reg-udp-call', udpCarrier));
  trunkDialer(tcpUa, new DigestSupport(clock))(overTcp, options('tcp-reg-to-registrar', registrar));
  trunkDialer(tcpUa, new DigestSupport(clock))(overTcp, options('tcp-reg-other-host', otherHost));
  trunkDialer(tcpUa, new DigestSupport(clock))(overUdp, options('udp-reg-tcp-call', registrar));
  trunkDialer(ua, new DigestSupport(clock))(overUdp, options('udp-reg-udp-call', udpCarrier));
  await new Promise((resolve) => setImmediate(resolve));
  const contactOf = (user: string) =>
    invites.find((invite) => invite.from().uri.user === user)?.get('contact');
  assert.equal(
    contactOf('tcp-reg-udp-call'),
    '<sip:patchbay@127.0.0.1:5060>',
    'a TCP mapping is no UDP address',
  );
  assert.equal(contactOf('tcp-reg-to-registrar'), '<sip:patchbay@203.0.113.9:40001;transport=tcp>');
  assert.equal(
    contactOf('tcp-reg-other-host'),
    '<sip:patchbay@127.0.0.1:5060;transport=tcp>',
    "another host cannot use the registrar's connection",
  );
  assert.equal(contactOf('udp-reg-tcp-call'), '<sip:patchbay@127.0.0.1:5060;transport=tcp>');
  assert.equal(contactOf('udp-reg-udp-call'), '<sip:patchbay@203.0.113.9:40000>');
  ua.close();
  tcpUa.close();
});

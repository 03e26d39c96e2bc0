import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gatewayFileSchema, makeSnapshot, trunkSchema } from '../../src/config/index.js';
import {
  CidrTable,
  ConcurrencyLimiter,
  InboundMatcher,
  inboundE164,
  normalizeE164,
  outboundIdentity,
  registrationContactUser,
} from '../../src/trunks/index.js';

describe('CidrTable', () => {
  it('matches IPv4, IPv6 and IPv4-mapped addresses by longest prefix', () => {
    const table = new CidrTable<string>();
    table.add('10.0.0.0/8', 'wide');
    table.add('10.1.2.0/24', 'narrow');
    table.add('2001:db8::/32', 'v6');
    table.add('2001:db8:1::/48', 'v6-narrow');
    table.add('192.0.2.7', 'host');
    table.add('0.0.0.0/0', 'any-v4');
    assert.equal(table.lookup('10.1.2.3')?.value, 'narrow');
    assert.equal(table.lookup('10.9.9.9')?.value, 'wide');
    assert.equal(table.lookup('::ffff:10.1.2.200')?.value, 'narrow');
    assert.equal(table.lookup('192.0.2.7')?.value, 'host');
    assert.equal(table.lookup('192.0.2.8')?.value, 'any-v4');
    assert.equal(table.lookup('2001:db8:1:2::5')?.value, 'v6-narrow');
    assert.equal(table.lookup('2001:db8:ffff::1')?.value, 'v6');
    assert.equal(table.lookup('2001:db9::1'), undefined);
    assert.equal(table.lookup('not an ip'), undefined);
    assert.throws(() => table.add('10.0.0.0/33', 'x'), RangeError);
  });

  it('refuses an IPv4-mapped block wider than the mapped space, in the table and in the config', () => {
    // Read as 203.0.113.0/24, it is ::/24: every IPv4 source would be the carrier's.
    const table = new CidrTable<string>();
    assert.throws(() => table.add('::ffff:203.0.113.0/24', 'carrier'), RangeError);
    assert.equal(table.lookup('198.51.100.1'), undefined);
    const parsed = trunkSchema.safeParse({
      name: 'carrier',
      inbound: { allowedCidrs: ['::ffff:203.0.113.0/24'] },
    });
    assert.equal(parsed.success, false);
    assert.match(parsed.error?.issues[0]?.message ?? '', /::ffff:203\.0\.113\.0\/120/);
    table.add('::ffff:203.0.113.0/120', 'carrier');
    assert.equal(table.lookup('203.0.113.9')?.value, 'carrier');
    assert.equal(table.lookup('198.51.100.1'), undefined);
  });

  it('takes an IPv4-mapped block in any spelling as the IPv4 block it holds', () => {
    const table = new CidrTable<string>();
    table.add('0:0:0:0:0:ffff:198.51.100.0/120', 'long');
    table.add('::FFFF:C000:0200/120', 'hex');
    assert.equal(table.lookup('198.51.100.7')?.value, 'long');
    assert.equal(table.lookup('::ffff:198.51.100.7')?.value, 'long');
    assert.equal(table.lookup('192.0.2.5')?.value, 'hex');
    assert.equal(table.lookup('0:0:0:0:0:ffff:c000:205')?.value, 'hex');
    assert.equal(table.lookup('203.0.113.1'), undefined);
    const every = new CidrTable<string>();
    every.add('::ffff:0:0/96', 'every IPv4');
    assert.equal(every.lookup('203.0.113.1')?.value, 'every IPv4');
    assert.equal(every.lookup('2001:db8::1'), undefined);
  });
});

describe('InboundMatcher', () => {
  const carrier = trunkSchema.parse({
    name: 'carrier',
    inbound: { allowedCidrs: ['203.0.113.0/24'], numbers: ['+1555*'], unknownSourceAction: 403 },
  });
  const pbx = trunkSchema.parse({
    name: 'pbx',
    inbound: { allowedCidrs: ['203.0.113.10/32', '2001:db8::/32'] },
  });
  const gateway = gatewayFileSchema.parse({
    routes: [
      { match: '*', target: { url: 'builtin:echo' } },
      { match: '+1555*', trunk: 'carrier', target: { url: 'wss://bot/a' } },
      { match: '+15550100', target: { url: 'wss://bot/exact' } },
      { match: '/^\\+44/', trunk: 'pbx', target: { url: 'wss://bot/uk' } },
    ],
  });
  const matcher = new InboundMatcher(makeSnapshot(gateway, [carrier, pbx]));

  it('picks the trunk by longest CIDR and the most specific route for it', () => {
    const exact = matcher.match({ address: '203.0.113.9', transport: 'udp' }, '+15550100');
    assert.ok(exact.ok);
    assert.equal(exact.trunk.name, 'carrier');
    assert.equal(exact.route.target.url, 'wss://bot/exact');
    const prefix = matcher.match({ address: '203.0.113.9', transport: 'udp' }, '+15559999');
    assert.ok(prefix.ok && prefix.route.target.url === 'wss://bot/a');
    const pbxCall = matcher.match({ address: '203.0.113.10', transport: 'udp' }, '+442079460018');
    assert.ok(pbxCall.ok && pbxCall.trunk.name === 'pbx' && pbxCall.routeIndex === 3);
    const v6 = matcher.match({ address: '2001:db8::99', transport: 'udp' }, '+33123');
    assert.ok(v6.ok && v6.route.target.url === 'builtin:echo');
  });

  it('refuses numbers a trunk does not own and unknown sources with the owner trunk action', () => {
    const refused = matcher.match({ address: '203.0.113.9', transport: 'udp' }, '+442079460018');
    assert.ok(!refused.ok && refused.reason === 'number_not_allowed' && refused.status === 403);
    assert.deepEqual(matcher.match({ address: '198.51.100.1', transport: 'udp' }, '+15551234'), {
      ok: false,
      reason: 'unknown_source',
      action: 403,
    });
    assert.deepEqual(matcher.match({ address: '198.51.100.1', transport: 'udp' }, '+4420'), {
      ok: false,
      reason: 'unknown_source',
      action: 'drop',
    });
    assert.deepEqual(matcher.match({ address: 'garbage', transport: 'udp' }, '+1555'), {
      ok: false,
      reason: 'unknown_source',
      action: 403,
    });
  });

  describe('registration trunks', () => {
    const register = { registrar: 'sip.carrier.example', username: 'u', password: 'p' };
    const registered = trunkSchema.parse({
      name: 'registered',
      outbound: { gateways: [{ host: 'sip.carrier.example' }], register },
    });
    const proxied = trunkSchema.parse({
      name: 'proxied',
      inbound: { allowedCidrs: ['192.0.2.0/28'], unknownSourceAction: 403 },
      outbound: { gateways: [{ host: 'h' }], register: { ...register, username: 'v' } },
    });
    const contact = registrationContactUser('registered', registered.outbound?.register ?? assert.fail());
    const proxiedContact = registrationContactUser('proxied', proxied.outbound?.register ?? assert.fail());
    /** Where each trunk's registrar answered its binding from (TrunkRegistrations). */
    const registrars: Record<string, string[]> = {
      registered: ['198.51.100.1'],
      proxied: ['::ffff:192.0.2.99'],
    };
    const withRegistration = new InboundMatcher(makeSnapshot(gateway, [carrier, pbx, registered, proxied]), {
      registrarAddresses: (trunk) => registrars[trunk] ?? [],
    });
    const from = (address: string, transport = 'udp') => ({ address, transport });

    it("match a Request-URI naming the registered Contact from its registrar's address, before source CIDRs", () => {
      const fromRegistrar = withRegistration.match(from('198.51.100.1'), '+15550100', contact);
      assert.ok(fromRegistrar.ok && fromRegistrar.trunk.name === 'registered');
      assert.equal(fromRegistrar.route.target.url, 'wss://bot/exact');
      const overTcp = withRegistration.match(from('198.51.100.1', 'tcp'), '+442079460018', contact);
      assert.ok(overTcp.ok && overTcp.trunk.name === 'registered', 'over any transport');
      const mapped = withRegistration.match(from('192.0.2.99'), '+15550100', proxiedContact);
      assert.ok(mapped.ok && mapped.trunk.name === 'proxied', 'an address in any spelling');
      assert.equal(withRegistration.match(from('198.51.100.1'), '+4420', 'pb-guessed').ok, false);
    });

    it('refuse the Contact from elsewhere like an unknown source: it travels in clear in REGISTER', () => {
      assert.deepEqual(withRegistration.match(from('198.51.100.2'), '+4420', contact), {
        ok: false,
        reason: 'unknown_source',
        action: 'drop',
        detail: "not trunk registered's registrar",
      });
      const fromCarrier = withRegistration.match(from('203.0.113.9'), '+15550100', contact);
      assert.deepEqual(
        fromCarrier,
        {
          ok: false,
          reason: 'unknown_source',
          action: 403,
          detail: "not trunk registered's registrar",
        },
        "another trunk's source, with the action of the number's owner",
      );
      const unregistered = new InboundMatcher(makeSnapshot(gateway, [registered]));
      assert.equal(
        unregistered.match(from('198.51.100.1'), '+1555', contact).ok,
        false,
        'no binding, no call',
      );
    });

    it("take the Contact from the trunk's own CIDRs, with the trunk's action elsewhere", () => {
      const proxy = withRegistration.match(from('192.0.2.7'), '+15550100', proxiedContact);
      assert.ok(proxy.ok && proxy.trunk.name === 'proxied');
      const other = withRegistration.match(from('192.0.2.77'), '+4420', proxiedContact);
      assert.ok(!other.ok && other.reason === 'unknown_source' && other.action === 403);
    });

    it('call the To user, since the registrar rewrote the Request-URI to our Contact', () => {
      assert.equal(withRegistration.calledNumber(contact, '+15550100'), '+15550100');
      assert.equal(withRegistration.calledNumber('+15550199', '+15550100'), '+15550199');
      assert.equal(withRegistration.calledNumber(undefined, '+15550100'), '+15550100');
    });

    it('have a Contact user that only their credentials give, stable across loads', () => {
      assert.match(contact, /^pb-[0-9a-f]{24}$/);
      const again = trunkSchema.parse({
        name: 'registered',
        outbound: { gateways: [{ host: 'x' }], register },
      });
      assert.equal(registrationContactUser('registered', again.outbound?.register ?? assert.fail()), contact);
      const otherPassword = {
        ...register,
        password: 'q',
        expires: 60,
        transport: 'udp' as const,
        keepAliveSec: 25,
        tlsVerify: true,
      };
      assert.notEqual(registrationContactUser('registered', otherPassword), contact);
    });

    it('admit TCP connections from a registrar, whatever the transport it registers over', () => {
      const dropping = new InboundMatcher(makeSnapshot(gateway, [pbx, registered]), {
        registrarAddresses: (trunk) => registrars[trunk] ?? [],
      });
      assert.equal(dropping.admitsSource('198.51.100.1', 'tcp'), true);
      assert.equal(dropping.admitsSource('198.51.100.2', 'tcp'), false, 'nor anyone else');
      assert.equal(withRegistration.admitsSource('198.51.100.2', 'tcp'), true, 'carrier answers 403');
    });
  });
});

describe('InboundMatcher: trunks that take TLS only', () => {
  const secure = (unknownSourceAction: 403 | 'drop') =>
    trunkSchema.parse({
      name: 'secure',
      inbound: { allowedCidrs: ['198.51.100.0/24'], unknownSourceAction, transports: ['tls'] },
    });
  const gateway = gatewayFileSchema.parse({ routes: [{ match: '*', target: { url: 'builtin:echo' } }] });

  it('treats the trunk calling over another transport as an unknown source, with its own action', () => {
    const dropping = new InboundMatcher(makeSnapshot(gateway, [secure('drop')]));
    assert.equal(dropping.match({ address: '198.51.100.7', transport: 'tls' }, '+1555').ok, true);
    assert.deepEqual(dropping.match({ address: '198.51.100.7', transport: 'udp' }, '+1555'), {
      ok: false,
      reason: 'unknown_source',
      action: 'drop',
      detail: 'trunk secure takes tls, not udp',
    });
    assert.equal(dropping.admitsSource('198.51.100.7', 'tcp'), false, 'a TCP connection is closed at accept');
    assert.equal(dropping.admitsSource('198.51.100.7', 'tls'), true);
    const answering = new InboundMatcher(makeSnapshot(gateway, [secure(403)]));
    assert.equal(answering.admitsSource('198.51.100.7', 'tcp'), true, 'it will hear its 403');
    const refusal = answering.match({ address: '198.51.100.7', transport: 'tcp' }, '+1555');
    assert.equal(!refusal.ok && refusal.reason === 'unknown_source' && refusal.action, 403);
  });
});

describe('InboundMatcher: mutual TLS (the listener requires client certificates)', () => {
  const gateway = gatewayFileSchema.parse({ routes: [{ match: '*', target: { url: 'builtin:echo' } }] });
  const named = trunkSchema.parse({
    name: 'named',
    inbound: { allowedCidrs: ['198.51.100.0/24'], tlsClientNames: ['SBC.Carrier.example'] },
    outbound: { gateways: [{ host: 'ignored.example' }] },
  });
  const dialled = trunkSchema.parse({
    name: 'dialled',
    inbound: { allowedCidrs: ['203.0.113.0/24'], unknownSourceAction: 403 },
    outbound: { gateways: [{ host: 'sbc.other.example.' }, { host: '2001:DB8::5' }] },
  });
  const bare = trunkSchema.parse({ name: 'bare', inbound: { allowedCidrs: ['192.0.2.0/24'] } });
  const mutual = new InboundMatcher(makeSnapshot(gateway, [named, dialled, bare]), {
    requireClientCert: true,
  });
  const tls = (address: string, peerNames?: string[]) => ({
    address,
    transport: 'tls',
    ...(peerNames ? { peerNames } : {}),
  });

  it("takes a request over TLS only when the client's certificate names the trunk its source belongs to", () => {
    const byName = mutual.match(tls('198.51.100.7', ['sbc.carrier.example']), '+1555');
    assert.ok(byName.ok && byName.trunk.name === 'named', 'tlsClientNames, compared case-insensitively');
    assert.equal(
      mutual.match(tls('198.51.100.7', ['ignored.example']), '+1555').ok,
      false,
      'not its gateway',
    );
    const byGateway = mutual.match(tls('203.0.113.9', ['x.example', 'sbc.other.example']), '+1555');
    assert.ok(byGateway.ok && byGateway.trunk.name === 'dialled', 'default: its outbound gateway hosts');
    assert.equal(mutual.match(tls('203.0.113.9', ['2001:db8::5']), '+1555').ok, true, 'an IP, canonical');
  });

  it('refuses like an unknown source, with the trunk action, a certificate for another trunk or none', () => {
    assert.deepEqual(mutual.match(tls('203.0.113.9', ['sbc.carrier.example']), '+1555'), {
      ok: false,
      reason: 'unknown_source',
      action: 403,
      detail: "the TLS client certificate names none of trunk dialled's hosts",
    });
    assert.deepEqual(mutual.match(tls('198.51.100.7'), '+1555'), {
      ok: false,
      reason: 'unknown_source',
      action: 'drop',
      detail: "the TLS client certificate names none of trunk named's hosts",
    });
    assert.equal(
      mutual.match(tls('192.0.2.1', ['bare.example']), '+1555').ok,
      false,
      'a trunk without names',
    );
  });

  it('leaves UDP and TCP to the source address, and TLS alone without mutual TLS', () => {
    assert.equal(mutual.match({ address: '198.51.100.7', transport: 'udp' }, '+1555').ok, true);
    assert.equal(mutual.match({ address: '192.0.2.1', transport: 'tcp' }, '+1555').ok, true);
    const plain = new InboundMatcher(makeSnapshot(gateway, [named, dialled, bare]));
    assert.equal(plain.match(tls('192.0.2.1'), '+1555').ok, true);
  });
});

describe('numbers', () => {
  it('reads an inbound number in the trunk country: national, international without +, or as sent', () => {
    assert.equal(inboundE164('02079460018', '44'), '+442079460018');
    assert.equal(inboundE164('442079460018', '44'), '+442079460018', 'international without the +');
    assert.equal(inboundE164('14155550123', '1'), '+14155550123');
    assert.equal(inboundE164('+33 1 23 45 67 89', '44'), '+33123456789');
    assert.equal(inboundE164('0033123456789', '44'), '+33123456789');
    for (const sent of ['999', 'anonymous', '4420'])
      assert.equal(inboundE164(sent, '44'), undefined, `${sent} is left as sent`);
  });

  it('reads a local number in its phone-context (RFC 3966 §5.1.5): a global prefix, or a domain of the trunk country', () => {
    assert.equal(inboundE164('5550123;phone-context=+1-415', '44'), '+14155550123');
    assert.equal(inboundE164('555-0123;PHONE-CONTEXT=+1.415', '1'), '+14155550123');
    assert.equal(
      inboundE164('02079460018;phone-context=ims.mnc015.mcc234.3gppnetwork.org', '44'),
      '+442079460018',
    );
    for (const sent of [
      '999;phone-context=ims.example.net',
      '123;phone-context=+1',
      '+14155550123;phone-context=+1',
      '5550123;phone-context=+1-415;isub=12',
      '5550123;ext=22',
      '555*0123;phone-context=+1-415',
      'alice;phone-context=+1-415',
      '02079460018;phone-context=%2B44',
      '02079460018;phone-context=1-415',
    ])
      assert.equal(inboundE164(sent, '44'), undefined, `${sent} is left as sent`);
  });

  it("normalises the called and calling numbers of a trunk's calls when it sets inboundCountry", () => {
    const uk = trunkSchema.parse({
      name: 'uk',
      inboundCountry: '44',
      inbound: { allowedCidrs: ['192.0.2.0/24'] },
    });
    const plain = trunkSchema.parse({ name: 'plain', inbound: { allowedCidrs: ['198.51.100.0/24'] } });
    const matcher = new InboundMatcher(makeSnapshot(gatewayFileSchema.parse({}), [uk, plain]));
    assert.deepEqual(matcher.numbersOf('192.0.2.9', '02079460018', '02079460018', '07700900123'), {
      called: '+442079460018',
      caller: '+447700900123',
    });
    assert.deepEqual(matcher.numbersOf('192.0.2.9', '999', '999', 'anonymous'), {
      called: '999',
      caller: 'anonymous',
    });
    assert.deepEqual(matcher.numbersOf('198.51.100.9', '02079460018', undefined, '07700900123'), {
      called: '02079460018',
      caller: '07700900123',
    });
    assert.deepEqual(matcher.numbersOf('203.0.113.9', '02079460018', undefined, 'x'), {
      called: '02079460018',
      caller: 'x',
    });
    const outboundOnly = trunkSchema.safeParse({
      name: 'out',
      inboundCountry: '44',
      outbound: { gateways: [{ host: 'g' }] },
    });
    assert.equal(outboundOnly.success, false, 'a trunk that takes no calls has no inbound numbers to read');
  });

  it('normalises to E.164 with a default country', () => {
    assert.equal(normalizeE164('+44 20 7946 0018', '1'), '+442079460018');
    assert.equal(normalizeE164('0044 20 7946 0018', '1'), '+442079460018');
    assert.equal(normalizeE164('020 7946 0018', '44'), '+442079460018');
    assert.equal(normalizeE164('(555) 010-0100', '1'), '+15550100100');
    assert.equal(normalizeE164('1 555 010 0100', '1'), '+15550100100');
    assert.equal(normalizeE164('sip:alice', '1'), undefined);
  });

  it("normalises a national number by its country's rules, and leaves short codes alone", () => {
    assert.equal(normalizeE164('06 1234 5678', '39'), '+390612345678', 'Italy keeps the 0 after +39');
    assert.equal(normalizeE164('030 123456', '49'), '+4930123456', 'Germany drops it');
    assert.equal(normalizeE164('011 44 20 7946 0018', '1'), '+442079460018', "NANP's international prefix");
    for (const [short, country] of [
      ['911', '1'],
      ['611', '1'],
      ['555 0100', '1'],
      ['999', '44'],
      ['116123', '44'],
      ['112', '49'],
    ] as const)
      assert.equal(normalizeE164(short, country), undefined, `${short} in country ${country}`);
    const trunk = trunkSchema.parse({ name: 'c', outbound: { gateways: [{ host: 'g' }] } });
    assert.equal(
      outboundIdentity(trunk, '+15550100100', '611').toUser,
      '611',
      'a short code is dialled as it is',
    );
  });

  it('rewrites From to the trunk caller ID and To to E.164', () => {
    const trunk = trunkSchema.parse({
      name: 'uk',
      outbound: {
        gateways: [{ host: 'g' }],
        fromUser: '+442000000000',
        defaultCountry: '44',
        toHost: 'carrier.example',
      },
    });
    assert.deepEqual(outboundIdentity(trunk, 'anonymous', '07700 900123'), {
      fromUser: '+442000000000',
      fromHost: undefined,
      toUser: '+447700900123',
      toHost: 'carrier.example',
    });
  });
});

describe('ConcurrencyLimiter', () => {
  it('limits concurrent calls per key and cannot double-release', () => {
    const limiter = new ConcurrencyLimiter();
    const a = limiter.tryAcquire('trunk:x', 2);
    const b = limiter.tryAcquire('trunk:x', 2);
    assert.ok(a && b);
    assert.equal(limiter.tryAcquire('trunk:x', 2), undefined);
    assert.equal(a.release(), true);
    assert.equal(a.release(), false);
    assert.equal(limiter.inUse('trunk:x'), 1);
    assert.ok(limiter.tryAcquire('trunk:x', 2));
    assert.equal(limiter.tryAcquire('trunk:x', 2), undefined);
    assert.deepEqual(limiter.snapshot(), [{ key: 'trunk:x', inUse: 2 }]);
  });
});

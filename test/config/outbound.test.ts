import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseConfigText, trunkSchema } from '../../src/config/index.js';

function issuesOf(outbound: string): string[] {
  const result = parseConfigText(`name: t\noutbound:\n${outbound}`, 't.yaml', trunkSchema, {});
  return result.ok ? [] : result.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
}

it('takes only hosts and a user part a SIP URI can carry as written', () => {
  assert.deepEqual(
    issuesOf(
      '  gateways: [{ host: sbc-1.carrier.example. }, { host: 192.0.2.10, port: 5080 }, { host: "2001:db8::7" }]\n' +
        '  fromUser: "+1555%20x;p=1\'"\n  fromHost: gw.example\n  toHost: 198.51.100.7\n',
    ),
    [],
  );
  assert.deepEqual(
    issuesOf(
      '  gateways: [{ host: "[::1]" }, { host: "sbc.example; lr" }]\n' +
        '  fromUser: "alice@evil"\n  fromHost: "gw.example>"\n  toHost: ""\n',
    ),
    [
      '3:22 outbound.gateways[0].host: a DNS name or an IP address',
      '3:41 outbound.gateways[1].host: a DNS name or an IP address',
      '4:13 outbound.fromUser: the user part of a SIP URI (RFC 3261 §25.1)',
      '5:13 outbound.fromHost: a DNS name or an IP address',
      '6:11 outbound.toHost: a DNS name or an IP address',
    ],
  );
});

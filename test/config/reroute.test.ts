import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gatewayFileSchema, loadSipProfiles, parseConfigText, trunkSchema } from '../../src/config/index.js';

const reroute = (to: string): string =>
  `cps:\n  overflow:\n    action: reroute\n    rerouteTo: ${JSON.stringify(to)}\n`;
const inbound = 'inbound:\n  allowedCidrs: [203.0.113.0/24]\n';
const outbound = (host: string): string => `outbound:\n  gateways:\n    - host: ${host}\n`;

function issuesOf(text: string): string[] {
  const result = parseConfigText(text, 't.yaml', trunkSchema, {});
  return result.ok ? [] : result.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
}

describe("a CPS overflow's rerouteTo", () => {
  it('is a bot on an inbound trunk and a trunk name on an outbound one', () => {
    assert.deepEqual(issuesOf(`name: a\n${inbound}${reroute('wss://spare.example/bot')}`), []);
    assert.deepEqual(issuesOf(`name: a\n${inbound}${reroute('builtin:echo')}`), []);
    assert.deepEqual(issuesOf(`name: a\n${inbound}${reroute('spare')}`), [
      "7:16 cps.overflow.rerouteTo: an inbound trunk's rerouteTo is a bot: ws://, wss:// or builtin:echo",
    ]);
    assert.deepEqual(issuesOf(`name: a\n${outbound('sip.example')}${reroute('ws://bot')}`), [
      "8:16 cps.overflow.rerouteTo: an outbound trunk's rerouteTo is the name of another trunk",
    ]);
  });

  it('is refused with action reject or queue, which would ignore it', () => {
    for (const action of ['reject', 'queue']) {
      const text = `name: a\n${inbound}cps:\n  overflow:\n    action: ${action}\n    rerouteTo: builtin:echo\n`;
      assert.deepEqual(issuesOf(text), [
        "7:16 cps.overflow.rerouteTo: rerouteTo is only used by action 'reroute': set that action or drop rerouteTo",
      ]);
    }
    const route = `routes:\n  - match: "*"\n    target: { url: builtin:echo }\n    cps: { rate: 1, burst: 1, overflow: { rerouteTo: builtin:echo } }\n`;
    const result = parseConfigText(route, 'g.yaml', gatewayFileSchema, {});
    assert.deepEqual(result.ok ? [] : result.issues.map((i) => `${i.path}: ${i.message}`), [
      "routes[0].cps.overflow.rerouteTo: rerouteTo is only used by action 'reroute': set that action or drop rerouteTo",
    ]);
  });

  it('is refused on a trunk with both sections, where it would mean a bot and a trunk', () => {
    const [issue] = issuesOf(`name: a\n${inbound}${outbound('sip.example')}${reroute('spare')}`);
    assert.match(issue ?? '', /^10:16 cps.overflow.rerouteTo: .*reroute inbound calls at their routes/);
  });

  it('names an outbound trunk of the same sip-profiles directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'patchbay-reroute-'));
    try {
      await writeFile(join(dir, 'a.yaml'), `name: a\n${outbound('a.example')}${reroute('spare')}`);
      await writeFile(join(dir, 'b.yaml'), `name: b\n${outbound('b.example')}${reroute('in-only')}`);
      await writeFile(join(dir, 'c.yaml'), `name: in-only\n${inbound}`);
      const missing = await loadSipProfiles(dir, {});
      assert.equal(missing.ok, false);
      if (missing.ok) return;
      assert.deepEqual(
        missing.issues.map((i) => `${i.file.split('/').pop()} ${i.line}:${i.col} ${i.path}: ${i.message}`),
        [
          "a.yaml 8:16 cps.overflow.rerouteTo: unknown trunk 'spare' (known: a, b, in-only)",
          "b.yaml 8:16 cps.overflow.rerouteTo: trunk 'in-only' has no outbound section to reroute calls through",
        ],
      );
      await writeFile(join(dir, 'spare.yaml'), `name: spare\n${outbound('spare.example')}`);
      await rm(join(dir, 'b.yaml'));
      assert.equal((await loadSipProfiles(dir, {})).ok, true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

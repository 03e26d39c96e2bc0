import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ConfigError, ConfigManager, loadConfig, type PatchbayConfig } from '../../src/config/index.js';
import { FakeClock } from '../../src/util/index.js';

/** Tests run from the repository root (tsx and the compiled dist/ run alike). */
const fixtures = `${resolve('fixtures/config')}/`;
const env = { API_TOKEN: 'token-of-sixteen-chars', CARRIER_A_PASSWORD: 's3cret' };

describe('ConfigManager', () => {
  let dir: string;
  let gatewayFile: string;
  let trunkFile: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'patchbay-config-'));
    cpSync(`${fixtures}good`, dir, { recursive: true });
    gatewayFile = join(dir, 'patchbay.yaml');
    trunkFile = join(dir, 'sip-profiles', 'carrier-a.yaml');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reload() with a broken file keeps the old snapshot and emits the errors', async () => {
    const manager = await ConfigManager.open({ gatewayFile, env, clock: new FakeClock() });
    const before = manager.current;
    const invalid: ConfigError[] = [];
    manager.on('invalid', (error) => invalid.push(error));
    const changed: PatchbayConfig[] = [];
    manager.on('changed', (next) => changed.push(next));
    writeFileSync(trunkFile, `${readFileSync(trunkFile, 'utf8')}bogus: 1\n`);
    const result = await manager.reload();
    assert.equal(result.ok, false);
    assert.equal(manager.current, before);
    assert.equal(invalid.length, 1);
    assert.equal(invalid[0]?.issues[0]?.path, 'bogus');
    assert.equal(invalid[0]?.issues[0]?.line, 19);
    assert.deepEqual(changed, []);
    manager.close();
  });

  it('reload() with an undefined YAML alias emits invalid instead of rejecting', async () => {
    const manager = await ConfigManager.open({ gatewayFile, env, clock: new FakeClock() });
    const invalid: ConfigError[] = [];
    manager.on('invalid', (error) => invalid.push(error));
    writeFileSync(trunkFile, readFileSync(trunkFile, 'utf8').replace('rate: 5', 'rate: *nowhere'));
    const result = await manager.reload();
    assert.equal(result.ok, false);
    assert.equal(invalid.length, 1);
    assert.deepEqual(
      invalid[0]?.issues.map((i) => `${i.file.endsWith('carrier-a.yaml')} ${i.line} ${i.path}`),
      ['true 17 cps.rate'],
    );
    manager.close();
  });

  it('a throwing changed listener neither fails the reload nor keeps the next listener from it', async () => {
    const manager = await ConfigManager.open({ gatewayFile, env, clock: new FakeClock() });
    const seen: number[] = [];
    manager.on('changed', () => {
      throw new Error('subscriber bug');
    });
    manager.on('changed', (next) => seen.push(next.trunks.get('carrier-a')?.cps.rate ?? 0));
    writeFileSync(trunkFile, readFileSync(trunkFile, 'utf8').replace('rate: 5', 'rate: 7'));
    const result = await manager.reload();
    assert.ok(result.ok && result.changed);
    assert.deepEqual(seen, [7]);
    assert.equal(manager.current.trunks.get('carrier-a')?.cps.rate, 7);
    manager.close();
  });

  it('emits changed(new, old) for a valid edit; holders of the old snapshot keep it', async () => {
    const manager = await ConfigManager.open({ gatewayFile, env, clock: new FakeClock() });
    const held = manager.current;
    const events: Array<[PatchbayConfig, PatchbayConfig]> = [];
    manager.on('changed', (next, previous) => events.push([next, previous]));
    assert.deepEqual(await manager.reload(), { ok: true, changed: false, config: held });
    writeFileSync(trunkFile, readFileSync(trunkFile, 'utf8').replace('rate: 5', 'rate: 7'));
    const result = await manager.reload();
    assert.ok(result.ok && result.changed);
    assert.equal(events.length, 1);
    assert.equal(events[0]?.[1], held);
    assert.equal(held.trunks.get('carrier-a')?.cps.rate, 5);
    assert.equal(manager.current.trunks.get('carrier-a')?.cps.rate, 7);
    manager.close();
  });

  it('debounces file events on the injected clock and reloads on SIGHUP', async () => {
    const clock = new FakeClock();
    const loaded = await loadConfig(gatewayFile, env);
    let loads = 0;
    const counting = await ConfigManager.open({
      gatewayFile,
      env,
      clock,
      debounceMs: 100,
      load: async () => {
        loads++;
        return loaded;
      },
    });
    loads = 0;
    counting.fileChanged();
    clock.advance(60);
    counting.fileChanged();
    clock.advance(60);
    assert.equal(loads, 0);
    clock.advance(40);
    await new Promise((r) => setImmediate(r));
    assert.equal(loads, 1);
    const signals = new EventEmitter();
    counting.handleSignals(signals);
    signals.emit('SIGHUP');
    await new Promise((r) => setImmediate(r));
    assert.equal(loads, 2);
    counting.close();
    signals.emit('SIGHUP');
    assert.equal(loads, 2);
  });

  it('embedded() serves the demo config and reload keeps it', async () => {
    const manager = ConfigManager.embedded(new FakeClock());
    const before = manager.current;
    assert.equal(before.gateway.routes[0]?.target.url, 'builtin:echo');
    manager.watchFiles();
    assert.deepEqual(await manager.reload(), { ok: true, changed: false, config: before });
    manager.close();
  });

  it('open() throws a ConfigError listing a route that names an unknown trunk', async () => {
    writeFileSync(gatewayFile, readFileSync(gatewayFile, 'utf8').replace('trunk: carrier-a', 'trunk: nope'));
    await assert.rejects(
      ConfigManager.open({ gatewayFile, env, clock: new FakeClock() }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.issues[0]?.path, 'routes[0].trunk');
        assert.equal(error.issues[0]?.line, 11);
        assert.match(error.message, /unknown trunk 'nope'/);
        return true;
      },
    );
  });
});

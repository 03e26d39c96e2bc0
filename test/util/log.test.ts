import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../src/util/index.js';

test('logger redacts secrets wherever they appear', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const log = createLogger({ destination: sink }).child({ callId: 'c1' });
  log.info({ trunk: { name: 'carrier-a', password: 'hunter2' }, token: 'abc' }, 'trunk loaded');
  await new Promise((r) => setImmediate(r));
  const line = JSON.parse(lines.join(''));
  assert.equal(line.callId, 'c1');
  assert.equal(line.trunk.password, '[redacted]');
  assert.equal(line.token, '[redacted]');
  assert.ok(!lines.join('').includes('hunter2'));
});

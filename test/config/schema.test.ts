/** Ranges of the trunk file that would load and then never apply. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText, trunkSchema } from '../../src/config/index.js';

const trunk = (extra: string): string => `name: t\noutbound:\n  gateways: [{host: a.example}]\n${extra}`;

function issuesOf(text: string): string[] {
  const result = parseConfigText(text, 't.yaml', trunkSchema, {});
  return result.ok ? [] : result.issues.map((i) => `${i.line} ${i.path}: ${i.message}`);
}

describe('trunk ranges', () => {
  it('probing.acceptedCodes are final answers: 1xx refused', () => {
    assert.deepEqual(issuesOf(trunk('probing:\n  acceptedCodes: [200, 404]\n')), []);
    assert.deepEqual(issuesOf(trunk('probing:\n  acceptedCodes: [183, 200]\n')), [
      '5 probing.acceptedCodes[0]: Too small: expected number to be >=200',
    ]);
  });

  it('health.windowMs holds at least one bucket', () => {
    assert.deepEqual(issuesOf(trunk('health:\n  windowMs: 60000\n  bucketMs: 60000\n')), []);
    assert.deepEqual(issuesOf(trunk('health:\n  windowMs: 30000\n  bucketMs: 60000\n')), [
      '5 health.windowMs: windowMs must be at least bucketMs (the window holds whole buckets)',
    ]);
    assert.deepEqual(issuesOf(trunk('health:\n  windowMs: 30000\n')), [
      '5 health.windowMs: windowMs must be at least bucketMs (the window holds whole buckets)',
    ]);
  });

  it('a critical health threshold lies past warn in the direction that is worse for the metric', () => {
    const health = (metric: string, warn: number, critical: number) =>
      trunk(`health:\n  ${metric}: { warn: ${warn}, critical: ${critical} }\n`);
    assert.deepEqual(issuesOf(health('asr', 0.5, 0.2)), []);
    assert.deepEqual(issuesOf(health('pddMs', 3000, 9000)), []);
    assert.deepEqual(
      [
        ...issuesOf(health('asr', 0.3, 0.5)),
        ...issuesOf(health('ccr', 0.7, 0.7)),
        ...issuesOf(health('acdSec', 10, 30)),
        ...issuesOf(health('mos', 3.1, 3.6)),
        ...issuesOf(health('pddMs', 8000, 4000)),
        ...issuesOf(health('astMs', 6000, 6000)),
      ],
      [
        '5 health.asr.critical: critical must be below warn: a lower asr is worse',
        '5 health.ccr.critical: critical must be below warn: a lower ccr is worse',
        '5 health.acdSec.critical: critical must be below warn: a lower acdSec is worse',
        '5 health.mos.critical: critical must be below warn: a lower mos is worse',
        '5 health.pddMs.critical: critical must be above warn: a higher pddMs is worse',
        '5 health.astMs.critical: critical must be above warn: a higher astMs is worse',
      ],
    );
    // Only one side given: the other keeps its default, and must still agree with it.
    assert.deepEqual(issuesOf(trunk('health:\n  asr: { warn: 0.2 }\n')), [
      '5 health.asr.critical: critical must be below warn: a lower asr is worse',
    ]);
  });
});

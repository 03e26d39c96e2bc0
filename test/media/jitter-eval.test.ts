import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateProfile, PROFILES } from '../../bench/jitter-eval.js';

// Short (15 s) versions of bench/jitter-eval.ts profiles, with the bench's targets asserted.
for (const name of ['clean', '1% reorder + 1% duplicates', '+100 ppm drift']) {
  test(`adaptive buffer meets its target on "${name}"`, () => {
    const profile = PROFILES.find((p) => p.name === name);
    assert.ok(profile);
    const result = evaluateProfile(profile, 15, 7);
    assert.ok(result.passed, JSON.stringify(result));
    assert.ok(result.lateRate <= 0.01);
  });
}

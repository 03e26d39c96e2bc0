/** Polling for a condition in interop tests, where real processes take real time. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `done` every 20 ms until it holds; fails the test naming `what` after `withinMs`. */
export async function waitFor(
  done: () => boolean | Promise<boolean>,
  what: string,
  withinMs = 5000,
): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await done())) {
    if (Date.now() > deadline) assert.fail(`${what} not reached within ${withinMs} ms`);
    await sleep(20);
  }
}

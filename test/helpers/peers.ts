import { spawnSync } from 'node:child_process';

/** True when `command` can be started (it is on PATH). */
export function commandAvailable(command: string, versionArgs: string[] = ['--version']): boolean {
  return spawnSync(command, versionArgs, { stdio: 'ignore' }).error === undefined;
}

/**
 * The `skip` value for a test that needs a real peer: skip locally when it is missing, but
 * never on CI, where the test must run and fail so a missing install step is caught.
 */
export function skipUnlessPresent(present: boolean, missing: string): string | false {
  return present || process.env['CI'] ? false : missing;
}

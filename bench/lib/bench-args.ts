/**
 * A bench script's command line read with node's parseArgs, for people: `--help` (or `-h`)
 * prints the script's usage, and an unknown or malformed option is answered with one line and
 * the usage (exit 2) instead of a stack trace.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';

type BenchOptions = NonNullable<ParseArgsConfig['options']>;

export function parseBenchArgs<const O extends BenchOptions>(usage: string, options: O) {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(`${usage.trimEnd()}\n`);
    process.exit(0);
  }
  try {
    return parseArgs({ options });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${usage.trimEnd()}\n`);
    process.exit(2);
  }
}

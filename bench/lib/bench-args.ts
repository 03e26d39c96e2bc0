/**
 * A bench script's command line read with node's parseArgs, for people: `--help` (or `-h`)
 * prints the script's usage, and an unknown or malformed option is answered with one line and
 * the usage (exit 2) instead of a stack trace.
 */
export function parseBenchArgs<T>(usage: string, parse: () => T): T {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  try {
    return parse();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\nusage: ${usage}\n`);
    process.exit(2);
  }
}

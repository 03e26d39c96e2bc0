#!/usr/bin/env node
/**
 * The `patchbay` command: one subcommand per job. Each subcommand lives with its concern
 * and is loaded lazily, so `patchbay replay` does not start SIP and `--help` is instant.
 */
import { commands, printUsage } from './commands.js';
import { tuneV8 } from './v8-tuning.js';

async function main(argv: string[]): Promise<number> {
  tuneV8();
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    printUsage(process.stdout);
    return name ? 0 : 2;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`patchbay: unknown command '${name}'\n\n`);
    printUsage(process.stderr);
    return 2;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `patchbay: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);

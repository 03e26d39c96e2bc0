export interface Command {
  name: string;
  summary: string;
  run(argv: string[]): Promise<number>;
}

export const commands: Command[] = [
  {
    name: 'start',
    summary: 'run the gateway (no --config: the embedded demo with a built-in echo bot on 127.0.0.1:5060)',
    run: async (argv) => (await import('../gateway/index.js')).startMain(argv),
  },
  {
    name: 'check-config',
    summary: 'validate a gateway file or sip-profiles directory and print every error with its line',
    run: async (argv) => (await import('../config/index.js')).checkConfigMain(argv),
  },
  {
    name: 'replay',
    summary: 'run the RTP streams of a pcap through the receive pipeline on virtual time',
    run: async (argv) => (await import('../pcap/index.js')).replayMain(argv),
  },
];

export function printUsage(out: NodeJS.WritableStream): void {
  const width = Math.max(...commands.map((c) => c.name.length));
  out.write('usage: patchbay <command> [options]\n\ncommands:\n');
  for (const command of commands) out.write(`  ${command.name.padEnd(width)}  ${command.summary}\n`);
  out.write("\nRun 'patchbay <command> --help' for a command's options and examples.\n");
}

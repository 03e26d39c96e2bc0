/** `patchbay check-config FILE|DIR`: validate and print every error as `file:line:col path: message`. */
import { readFile, stat } from 'node:fs/promises';
import { isMap, parseDocument } from 'yaml';
import { type ConfigIssue, formatIssue } from './errors.js';
import { type Env, loadConfig, loadSipProfiles, loadTrunkFile } from './loader.js';

const USAGE = `usage: patchbay check-config FILE|DIR

Validates patchbay configuration and prints every problem with its line:
  FILE  a gateway file (its sipProfilesDir is checked too) or one trunk file
        (a trunk file is recognised by its top-level 'name' key)
  DIR   a sip-profiles directory: every *.yaml / *.yml in it

\${VAR} references are resolved from the environment; a missing one is an error
(write $\${VAR} for a literal \${VAR}).
Exit status: 0 when valid, 1 on config errors, 2 on usage errors.

examples:
  patchbay check-config /etc/patchbay/patchbay.yaml
  patchbay check-config sip-profiles/
  CARRIER_A_PASSWORD=x patchbay check-config sip-profiles/carrier-a.yaml
`;

export interface CheckConfigIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: Env;
}

/** Reads the top-level keys only: aliases are not expanded, errors are left to the loader. */
async function looksLikeTrunkFile(file: string): Promise<boolean> {
  try {
    const doc = parseDocument(await readFile(file, 'utf8'));
    return isMap(doc.contents) && doc.contents.has('name');
  } catch {
    return false; // unreadable: the loader reports it
  }
}

export async function checkConfigMain(
  argv: string[],
  io: CheckConfigIo = { stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(USAGE);
    return 0;
  }
  const [target, ...extra] = argv;
  if (target === undefined || extra.length > 0 || target.startsWith('-')) {
    io.stderr.write(USAGE);
    return 2;
  }
  let isDirectory = false;
  try {
    isDirectory = (await stat(target)).isDirectory();
  } catch (error) {
    io.stderr.write(`${target}: ${(error as Error).message}\n`);
    return 1;
  }
  let summary: string;
  if (isDirectory) {
    const result = await loadSipProfiles(target, io.env);
    if (!result.ok) return report(io, result.issues);
    summary = `${result.value.size} trunk(s) in ${target}: ${[...result.value.keys()].join(', ') || 'none'}`;
  } else if (await looksLikeTrunkFile(target)) {
    const result = await loadTrunkFile(target, io.env);
    if (!result.ok) return report(io, result.issues);
    summary = `trunk '${result.value.name}' in ${target}`;
  } else {
    const result = await loadConfig(target, io.env);
    if (!result.ok) return report(io, result.issues);
    const { gateway, trunks } = result.value;
    summary = `${target}: ${gateway.listen.length} listener(s), ${gateway.routes.length} route(s), ${trunks.size} trunk(s)`;
  }
  io.stdout.write(`ok: ${summary}\n`);
  return 0;
}

function report(io: CheckConfigIo, issues: readonly ConfigIssue[]): number {
  for (const issue of issues) io.stderr.write(`${formatIssue(issue)}\n`);
  io.stderr.write(`${issues.length} error(s)\n`);
  return 1;
}

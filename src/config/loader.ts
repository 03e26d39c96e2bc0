/**
 * YAML → validated config. Every problem (YAML syntax, types, unknown keys, bad CIDRs or
 * patterns, missing `${VAR}` secrets) is collected with its YAML path and line:column so
 * one run of check-config shows all of them.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { type Document, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { crossCheck, type LocatedFile } from './cross-check.js';
import { type ConfigIssue, formatPath } from './errors.js';
import {
  DEFAULT_SIP_PROFILES_DIR,
  type GatewayFileConfig,
  gatewayFileSchema,
  type TrunkConfig,
  trunkSchema,
} from './schema.js';
import { readListenerTlsFiles, readTrunkTlsFiles, type TlsFiles } from './tls-files.js';
import { locateNode, type PathKey, pathAt, unresolvedAlias } from './yaml-nodes.js';

export type Env = Readonly<Record<string, string | undefined>>;

export type ParseResult<T> = { ok: true; value: T } | { ok: false; issues: ConfigIssue[] };

/**
 * A parsed file keeps a locator so checks across files can still name a line. One that fails
 * keeps its data as written (`raw`, once the YAML could be read) for what other files need of it.
 */
export type ParsedFile<T> =
  | ({ ok: true } & LocatedFile<T>)
  | { ok: false; issues: ConfigIssue[]; raw?: unknown };

/** The whole validated configuration: one immutable snapshot. */
export interface PatchbayConfig {
  readonly gateway: Readonly<GatewayFileConfig>;
  readonly trunks: ReadonlyMap<string, Readonly<TrunkConfig>>;
  /** Files the snapshot was built from (gateway file first), for watching. */
  readonly files: readonly string[];
  /** The gateway file and the profiles directory (so a new trunk file is noticed too). */
  readonly watchPaths: readonly string[];
  /** PEM text of every TLS file the config names, by the absolute path it now holds. */
  readonly tlsFiles: ReadonlyMap<string, string>;
}

/** `${VAR}`, or `$${VAR}` for a literal `${VAR}`. */
const ENV_REFERENCE = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Replaces `${VAR}` in string values only (keys and numbers are left alone); records each
 * missing VAR. Substituted text is not scanned again, so secrets may contain `${`.
 */
function substituteEnv(
  value: unknown,
  env: Env,
  path: PathKey[],
  missing: Array<{ path: PathKey[]; name: string }>,
): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REFERENCE, (whole, escaped: string, name: string) => {
      if (escaped) return whole.slice(1);
      // Own variables only: `${constructor}` would find Object.prototype's (process.env has it).
      const replacement = Object.hasOwn(env, name) ? env[name] : undefined;
      if (replacement === undefined) {
        missing.push({ path: [...path], name });
        return whole;
      }
      return replacement;
    });
  }
  if (Array.isArray(value))
    return value.map((item, index) => substituteEnv(item, env, [...path, index], missing));
  if (value !== null && typeof value === 'object') {
    // fromEntries defines each key as its own: `out[key] =` with a YAML key `__proto__` set the
    // object's prototype, whose fields the schema then read as if written, past its unknown-key check.
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, substituteEnv(item, env, [...path, key], missing)]),
    );
  }
  return value;
}

/** Parses and validates one YAML text against a schema; never throws on bad input. */
export function parseConfigText<S extends z.ZodType>(
  text: string,
  file: string,
  schema: S,
  env: Env,
): ParsedFile<z.output<S>> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => lineCounter.linePos(offset ?? 0);
  const issueAt = (path: readonly PathKey[], message: string, keyNode = false): ConfigIssue => {
    const node = locateNode(doc.contents, path, keyNode);
    const { line, col } = at(node?.range?.[0]);
    return { file, path: formatPath(path), line, col, message };
  };

  const issues: ConfigIssue[] = doc.errors.map((error) => {
    const { line, col } = at(error.pos[0]);
    const path = formatPath(pathAt(doc.contents, error.pos[0]));
    return { file, path, line, col, message: `YAML: ${error.message.split('\n')[0]}` };
  });
  const { value, error } = documentValue(doc);
  if (error) {
    // An undefined anchor or an alias bomb: at the alias when it can be found, else the document.
    const aliasAt = unresolvedAlias(doc)?.range?.[0];
    const { line, col } = at(aliasAt ?? doc.contents?.range?.[0]);
    const path = aliasAt === undefined ? '' : formatPath(pathAt(doc.contents, aliasAt));
    issues.push({ file, path, line, col, message: `YAML: ${error.message}` });
    return { ok: false, issues };
  }
  const missing: Array<{ path: PathKey[]; name: string }> = [];
  const substituted = substituteEnv(value, env, [], missing);
  if (issues.length > 0) return { ok: false, issues, raw: substituted };
  for (const m of missing) issues.push(issueAt(m.path, `environment variable ${m.name} is not set`));

  const parsed = schema.safeParse(substituted);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.filter((k): k is PathKey => typeof k !== 'symbol');
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) issues.push(issueAt([...path, key], `unknown key '${key}'`, true));
      } else if (issue.code === 'invalid_type' && path.length > 0 && !doc.hasIn(path)) {
        issues.push(issueAt(path, `missing required key (${issue.message})`));
      } else {
        issues.push(issueAt(path, issue.message));
      }
    }
  }
  if (issues.length > 0 || !parsed.success) {
    issues.sort((a, b) => a.line - b.line || a.col - b.col);
    return { ok: false, issues, raw: substituted };
  }
  return { ok: true, value: parsed.data, issueAt, written: (path) => doc.hasIn(path) };
}

/** Aliases expand to at most 100 nodes (a "billion laughs" document fails instead). */
const MAX_ALIAS_COUNT = 100;

/** The document as plain data, or the error toJS throws on an undefined anchor or an alias bomb. */
function documentValue(doc: Document): { value?: unknown; error?: Error } {
  try {
    return { value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) };
  } catch (error) {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }
}

async function readText(file: string): Promise<string | ConfigIssue> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    return { file, path: '', line: 1, col: 1, message: `cannot read: ${(error as Error).message}` };
  }
}

export async function loadTrunkFile(file: string, env: Env): Promise<ParsedFile<TrunkConfig>> {
  const text = await readText(file);
  if (typeof text !== 'string') return { ok: false, issues: [text] };
  return parseConfigText(text, file, trunkSchema, env);
}

/**
 * Loads every `*.yaml`/`*.yml` in a sip-profiles directory; trunk names must be unique. Each
 * valid trunk keeps its file, to name lines in checks against the gateway file.
 */
export async function loadSipProfiles(
  dir: string,
  env: Env,
): Promise<ParseResult<Map<string, LocatedFile<TrunkConfig>>> & { files: string[]; tlsFiles: TlsFiles }> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort();
  } catch (error) {
    const issue = {
      file: dir,
      path: '',
      line: 1,
      col: 1,
      message: `cannot read directory: ${(error as Error).message}`,
    };
    return { ok: false, issues: [issue], files: [], tlsFiles: new Map() };
  }
  const files = names.map((n) => join(dir, n));
  const trunks = new Map<string, LocatedFile<TrunkConfig>>();
  const tlsFiles: TlsFiles = new Map();
  const issues: ConfigIssue[] = [];
  for (const file of files) {
    const result = await loadTrunkFile(file, env);
    if (!result.ok) {
      issues.push(...result.issues);
    } else if (trunks.has(result.value.name)) {
      issues.push(result.issueAt(['name'], `duplicate trunk name '${result.value.name}'`));
    } else {
      trunks.set(result.value.name, result);
      const tls = await readTrunkTlsFiles(result.value, file, result.issueAt);
      issues.push(...tls.issues);
      for (const [path, pem] of tls.files) tlsFiles.set(path, pem);
    }
  }
  for (const { value: trunk, issueAt } of trunks.values()) {
    const issue = rerouteTrunkIssue(trunk, trunks);
    if (issue) issues.push(issueAt(['cps', 'overflow', 'rerouteTo'], issue));
  }
  return issues.length > 0
    ? { ok: false, issues, files, tlsFiles }
    : { ok: true, value: trunks, files, tlsFiles };
}

/** An outbound trunk's overflow reroutes its calls through another trunk, which must dial out. */
function rerouteTrunkIssue(
  trunk: TrunkConfig,
  trunks: ReadonlyMap<string, LocatedFile<TrunkConfig>>,
): string | undefined {
  const { rerouteTo } = trunk.cps.overflow;
  if (!trunk.outbound || trunk.inbound || rerouteTo === undefined) return undefined;
  const target = trunks.get(rerouteTo)?.value;
  if (!target) return `unknown trunk '${rerouteTo}' (known: ${[...trunks.keys()].join(', ')})`;
  if (!target.outbound) return `trunk '${rerouteTo}' has no outbound section to reroute calls through`;
  return undefined;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/** Builds an immutable snapshot from an already-validated gateway config and its trunks. */
export function makeSnapshot(
  gateway: GatewayFileConfig,
  trunks: Iterable<TrunkConfig>,
  files: readonly string[] = [],
  watchPaths: readonly string[] = files,
  tlsFiles: ReadonlyMap<string, string> = new Map(),
): PatchbayConfig {
  const byName = new Map<string, TrunkConfig>();
  for (const trunk of trunks) byName.set(trunk.name, deepFreeze(trunk));
  return Object.freeze({
    gateway: deepFreeze(gateway),
    trunks: byName,
    files: Object.freeze([...files]),
    watchPaths: Object.freeze([...watchPaths]),
    tlsFiles,
  });
}

/** The sipProfilesDir of a gateway file that failed validation, when it reads as one; else the default. */
function rawSipProfilesDir(raw: unknown): string {
  const named = (raw as { sipProfilesDir?: unknown } | null | undefined)?.sipProfilesDir;
  return typeof named === 'string' && named !== '' ? named : DEFAULT_SIP_PROFILES_DIR;
}

/** Loads the gateway file and the sip-profiles directory it names; all errors of all files at once. */
export async function loadConfig(gatewayFile: string, env: Env): Promise<ParseResult<PatchbayConfig>> {
  const text = await readText(gatewayFile);
  if (typeof text !== 'string') return { ok: false, issues: [text] };
  const gateway = parseConfigText(text, gatewayFile, gatewayFileSchema, env);
  // A gateway file that fails still names its profiles directory: those files are checked too.
  const profilesDir = resolve(
    dirname(gatewayFile),
    gateway.ok ? gateway.value.sipProfilesDir : rawSipProfilesDir(gateway.raw),
  );
  const profiles = await loadSipProfiles(profilesDir, env);
  const listenerTls = gateway.ok
    ? await readListenerTlsFiles(gateway.value, gatewayFile, gateway.issueAt)
    : undefined;
  const issues = [
    ...(gateway.ok ? [] : gateway.issues),
    ...(listenerTls?.issues ?? []),
    ...(profiles.ok ? [] : profiles.issues),
  ];
  if (gateway.ok && profiles.ok) issues.push(...crossCheck(gatewayFile, gateway, profiles.value));
  if (issues.length > 0 || !gateway.ok || !profiles.ok) return { ok: false, issues };
  return {
    ok: true,
    value: makeSnapshot(
      gateway.value,
      [...profiles.value.values()].map((trunk) => trunk.value),
      [gatewayFile, ...profiles.files],
      [gatewayFile, profilesDir],
      new Map([...(listenerTls?.files ?? []), ...profiles.tlsFiles]),
    ),
  };
}

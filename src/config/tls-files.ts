/**
 * The PEM files a config names — a TLS listener's certificate, key and client CAs, a trunk
 * gateway's CAs — read at load, so a missing or unusable file fails there with file, YAML path
 * and line, and so the snapshot carries the very bytes the gateway then uses: a reload
 * (SIGHUP) that finds a file changed is a changed config, and new TLS connections present the
 * new certificate. Paths resolve against the directory of the file that names them and are
 * written back absolute. Messages name files and what is wrong, never key material.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { ConfigIssue } from './errors.js';
import type { GatewayFileConfig, TrunkConfig } from './schema.js';

type PathKey = string | number;
type IssueAt = (path: readonly PathKey[], message: string) => ConfigIssue;

/** Absolute path → PEM text. */
export type TlsFiles = Map<string, string>;

interface PemRef {
  /** YAML path of the key naming the file. */
  path: PathKey[];
  kind: 'certificate' | 'key';
  /** The path as written; `set` replaces it with the absolute one. */
  file: string;
  set(absolute: string): void;
}

export interface TlsFilesResult {
  files: TlsFiles;
  issues: ConfigIssue[];
}

/** Reads the gateway file's TLS listener files (relative to `gatewayFile`'s directory). */
export async function readListenerTlsFiles(
  gateway: GatewayFileConfig,
  gatewayFile: string,
  issueAt: IssueAt,
): Promise<TlsFilesResult> {
  const refs: PemRef[] = [];
  const pairs: Array<{ cert: PemRef; key: PemRef }> = [];
  gateway.listen.forEach((listen, index) => {
    if (listen.transport !== 'tls') return;
    const tls = listen.tls;
    const at = (key: string): PathKey[] => ['listen', index, 'tls', key];
    const cert: PemRef = {
      path: at('certFile'),
      kind: 'certificate',
      file: tls.certFile,
      set: (p) => (tls.certFile = p),
    };
    const key: PemRef = {
      path: at('keyFile'),
      kind: 'key',
      file: tls.keyFile,
      set: (p) => (tls.keyFile = p),
    };
    refs.push(cert, key);
    pairs.push({ cert, key });
    const ca = tls.caFile;
    if (ca !== undefined)
      refs.push({ path: at('caFile'), kind: 'certificate', file: ca, set: (p) => (tls.caFile = p) });
  });
  const result = await readPemFiles(refs, dirname(gatewayFile), issueAt);
  for (const { cert, key } of pairs) {
    const certPem = result.files.get(cert.file);
    const keyPem = result.files.get(key.file);
    if (certPem === undefined || keyPem === undefined) continue;
    try {
      createSecureContext({ cert: certPem, key: keyPem });
    } catch {
      result.issues.push(issueAt(key.path, `${key.file} is not the private key of ${cert.file}`));
    }
  }
  result.issues.sort((a, b) => a.line - b.line || a.col - b.col);
  return result;
}

/** Reads a trunk's gateway and registrar CA files (relative to `trunkFile`'s directory). */
export async function readTrunkTlsFiles(
  trunk: TrunkConfig,
  trunkFile: string,
  issueAt: IssueAt,
): Promise<TlsFilesResult> {
  const refs: PemRef[] = [];
  trunk.outbound?.gateways.forEach((gateway, index) => {
    const ca = gateway.tlsCaFile;
    if (ca === undefined) return;
    const path = ['outbound', 'gateways', index, 'tlsCaFile'];
    refs.push({ path, kind: 'certificate', file: ca, set: (p) => (gateway.tlsCaFile = p) });
  });
  const register = trunk.outbound?.register;
  if (register?.tlsCaFile !== undefined) {
    const path = ['outbound', 'register', 'tlsCaFile'];
    refs.push({ path, kind: 'certificate', file: register.tlsCaFile, set: (p) => (register.tlsCaFile = p) });
  }
  return readPemFiles(refs, dirname(trunkFile), issueAt);
}

async function readPemFiles(refs: PemRef[], baseDir: string, issueAt: IssueAt): Promise<TlsFilesResult> {
  const files: TlsFiles = new Map();
  const issues: ConfigIssue[] = [];
  for (const ref of refs) {
    const absolute = resolve(baseDir, ref.file);
    ref.set(absolute);
    ref.file = absolute;
    let text: string;
    try {
      text = await readFile(absolute, 'utf8');
    } catch (error) {
      issues.push(
        issueAt(ref.path, `cannot read ${absolute}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`),
      );
      continue;
    }
    const problem = pemProblem(text, ref.kind);
    if (problem) issues.push(issueAt(ref.path, `${absolute}: ${problem}`));
    else files.set(absolute, text);
  }
  return { files, issues };
}

function pemProblem(text: string, kind: PemRef['kind']): string | undefined {
  try {
    if (kind === 'certificate') new X509Certificate(text);
    else createPrivateKey(text);
    return undefined;
  } catch {
    return kind === 'certificate' ? 'not a PEM certificate' : 'not an unencrypted PEM private key';
  }
}

/**
 * A throwaway PKI for TLS tests, made with the openssl CLI in a temp directory: a CA and the
 * leaf certificates it signs (server or client, with the subjectAltNames a test needs). Keys
 * are P-256 (fast to make); every file is PEM; `close()` removes the directory.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { commandAvailable, skipUnlessPresent } from './peers.js';

export interface PemPair {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface Leaf extends PemPair {
  /** Hex serial number, as `X509Certificate.serialNumber` gives it. */
  serial: string;
  fingerprint256: string;
}

export interface LeafOptions {
  /** subjectAltName entries in openssl syntax: `DNS:localhost`, `IP:127.0.0.1`, `URI:sip:example.com`. */
  san?: string[];
  /** Subject CN; default the leaf's name. */
  commonName?: string;
}

export const opensslAvailable = commandAvailable('openssl', ['version']);
export const skipWithoutOpenssl = skipUnlessPresent(opensslAvailable, 'needs openssl');

/**
 * For a describe block: a PKI and its `localhost` certificate (DNS:localhost, IP:127.0.0.1),
 * made before the block's tests and removed after them.
 */
export function pkiForSuite(): { readonly pki: TestPki; readonly localhost: Leaf } {
  const suite = {} as { pki: TestPki; localhost: Leaf };
  before(() => {
    suite.pki = TestPki.create();
    suite.localhost = suite.pki.issue('localhost', { san: ['DNS:localhost', 'IP:127.0.0.1'] });
  });
  after(() => suite.pki.close());
  return suite;
}

function openssl(args: string[], cwd: string): void {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${result.stderr}`);
}

export class TestPki {
  readonly dir: string;
  readonly ca: PemPair;
  #serial = 1;

  private constructor(dir: string, ca: PemPair) {
    this.dir = dir;
    this.ca = ca;
  }

  /** A new CA in a new temp directory. */
  static create(caName = 'test-ca'): TestPki {
    const dir = mkdtempSync(join(tmpdir(), 'patchbay-pki-'));
    openssl(['req', '-x509', ...newKey(caName, caName), '-out', `${caName}.crt`, '-days', '2'], dir);
    return new TestPki(dir, readPair(dir, caName));
  }

  /** A leaf certificate signed by this CA, good for TLS servers and clients. */
  issue(name: string, options: LeafOptions = {}): Leaf {
    const { san = [], commonName = name } = options;
    openssl(['req', ...newKey(name, commonName), '-out', `${name}.csr`], this.dir);
    const extensions = [
      'basicConstraints=CA:FALSE',
      'extendedKeyUsage=serverAuth,clientAuth',
      ...(san.length > 0 ? [`subjectAltName=${san.join(',')}`] : []),
    ];
    writeFileSync(join(this.dir, `${name}.ext`), `${extensions.join('\n')}\n`);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        this.ca.certFile,
        '-CAkey',
        this.ca.keyFile,
        '-set_serial',
        String(Date.now() * 1000 + this.#serial++),
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.crt`,
      ],
      this.dir,
    );
    const pair = readPair(this.dir, name);
    const x509 = new X509Certificate(pair.cert);
    return { ...pair, serial: x509.serialNumber, fingerprint256: x509.fingerprint256 };
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `openssl req` arguments for a new unencrypted P-256 key `name.key` and the subject CN. */
function newKey(name: string, commonName: string): string[] {
  return [
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-subj',
    `/CN=${commonName}`,
  ];
}

function readPair(dir: string, name: string): PemPair {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile };
}

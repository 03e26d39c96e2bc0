/**
 * Whose certificate a TLS server presented, the SIP way (RFC 5922 §7): a SIP domain is matched
 * against the certificate's subjectAltName URIs of the form `sip:domain` and its DNS names, or,
 * only when it has no subjectAltName at all, its Common Name. Comparison is exact and
 * case-insensitive; wildcards match nothing (§7.2). An IP address is matched as any TLS client
 * matches one (an IP subjectAltName). A TLS client's certificate is read the same way, to tell
 * which trunk it speaks for.
 */
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { canonicalHost } from '../../util/index.js';

/** One `TYPE:value` entry of Node's subjectaltname text; values with commas come JSON-quoted. */
const ALT_NAME = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:,\s*|$)/g;

function altNames(text: string): Array<{ type: string; value: string }> {
  const names: Array<{ type: string; value: string }> = [];
  for (const [, type = '', raw = ''] of text.matchAll(ALT_NAME)) {
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        continue;
      }
    }
    names.push({ type: type.trim(), value });
  }
  return names;
}

/** The SIP domains a certificate speaks for (RFC 5922 §7.1), lower-cased. */
export function sipDomainIdentities(cert: Pick<PeerCertificate, 'subject' | 'subjectaltname'>): string[] {
  if (cert.subjectaltname === undefined) {
    const cn = cert.subject?.CN;
    return typeof cn === 'string' ? [cn.toLowerCase()] : [];
  }
  const identities: string[] = [];
  for (const { type, value } of altNames(cert.subjectaltname)) {
    // A URI identity is `sip:` and a bare domain: one with a user part names a user, not a domain.
    if (type === 'URI' && /^sip:[a-z0-9.-]+$/i.test(value)) identities.push(value.slice(4).toLowerCase());
    else if (type === 'DNS') identities.push(value.toLowerCase());
  }
  return identities;
}

/**
 * Every name a peer certificate speaks for, to match against a trunk's names: its SIP domains
 * (above) and its IP subjectAltNames, each as `canonicalHost` spells it.
 */
export function peerIdentities(cert: Pick<PeerCertificate, 'subject' | 'subjectaltname'>): string[] {
  const names = sipDomainIdentities(cert);
  for (const { type, value } of altNames(cert.subjectaltname ?? ''))
    if (type === 'IP Address' && isIP(value) !== 0) names.push(canonicalHost(value));
  return names;
}

/** A `checkServerIdentity` for SIP: undefined when `cert` speaks for `host`, else the error to fail with. */
export function checkSipServerIdentity(host: string, cert: PeerCertificate): Error | undefined {
  if (isIP(host) !== 0) return checkServerIdentity(host, cert);
  const identities = sipDomainIdentities(cert);
  if (identities.includes(host.toLowerCase())) return undefined;
  const error = new Error(
    `certificate is not for ${host} (it names ${identities.join(', ') || 'no SIP domain'})`,
  ) as Error & { code: string };
  error.code = 'ERR_TLS_CERT_ALTNAME_INVALID';
  return error;
}

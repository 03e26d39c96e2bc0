/**
 * RFC 5922 §7 server identity on certificate fields as Node reports them, and the bounded
 * reasons handshake errors are counted under.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PeerCertificate } from 'node:tls';
import { handshakeFailureOf } from '../../../src/sip/transport/tls.js';
import { checkSipServerIdentity, sipDomainIdentities } from '../../../src/sip/transport/tls-identity.js';

function cert(subjectaltname: string | undefined, cn = 'cn.example'): PeerCertificate {
  return {
    subject: { CN: cn },
    ...(subjectaltname === undefined ? {} : { subjectaltname }),
  } as PeerCertificate;
}

describe('RFC 5922 server identity', () => {
  it('takes sip: URI domains and DNS names from subjectAltName, not user URIs or the CN', () => {
    assert.deepEqual(
      sipDomainIdentities(
        cert('URI:sip:Carrier.Example, URI:sip:alice@carrier.example, DNS:edge.example, IP Address:10.0.0.1'),
      ),
      ['carrier.example', 'edge.example'],
    );
  });

  it('falls back to the Common Name only without a subjectAltName', () => {
    assert.deepEqual(sipDomainIdentities(cert(undefined, 'Old.Example')), ['old.example']);
    assert.deepEqual(sipDomainIdentities(cert('DNS:new.example', 'old.example')), ['new.example']);
  });

  it('matches exactly and case-insensitively; a wildcard matches nothing (§7.2)', () => {
    assert.equal(checkSipServerIdentity('EDGE.example', cert('DNS:edge.example')), undefined);
    const wildcard = checkSipServerIdentity('a.carrier.example', cert('DNS:*.carrier.example'));
    assert.equal((wildcard as { code?: string } | undefined)?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    assert.ok(checkSipServerIdentity('carrier.example', cert('URI:sip:alice@carrier.example')));
  });

  it('matches an IP address against IP subjectAltNames', () => {
    assert.equal(checkSipServerIdentity('127.0.0.1', cert('IP Address:127.0.0.1')), undefined);
    assert.ok(checkSipServerIdentity('127.0.0.2', cert('IP Address:127.0.0.1')));
  });

  it('reads JSON-quoted entries Node uses for values with commas', () => {
    assert.deepEqual(sipDomainIdentities(cert('URI:"sip:a,b.example", DNS:c.example')), ['c.example']);
  });
});

describe('TLS handshake failure reasons', () => {
  const reason = (code?: string) => handshakeFailureOf(Object.assign(new Error('x'), code ? { code } : {}));

  it('names certificate, name, protocol and closed failures', () => {
    assert.equal(reason('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'certificate');
    assert.equal(reason('CERT_HAS_EXPIRED'), 'certificate');
    assert.equal(reason('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE'), 'certificate');
    assert.equal(reason('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'), 'certificate');
    assert.equal(reason('ERR_TLS_CERT_ALTNAME_INVALID'), 'name_mismatch');
    assert.equal(reason('ERR_SSL_WRONG_VERSION_NUMBER'), 'protocol');
    assert.equal(reason('ECONNRESET'), 'closed');
    assert.equal(reason(), 'closed');
  });
});

/**
 * A scripted registrar on the in-memory SIP network: it logs every request with the virtual
 * time it arrived and answers with what the test's script returns (nothing: no answer).
 */
import { DigestVerifier } from '../../../src/sip/digest.js';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { createResponse } from '../../../src/sip/message-ops.js';
import type { TransportAddress } from '../../../src/sip/types.js';
import type { FakeClock } from '../../../src/util/index.js';
import type { MemoryNetwork } from './memory-transport.js';

export type RegistrarScript = (request: SipRequest, index: number) => SipResponse | undefined;

export class FakeRegistrar {
  readonly requests: Array<{ at: number; request: SipRequest }> = [];

  constructor(network: MemoryNetwork, address: TransportAddress, script: RegistrarScript) {
    network.bind(address).onMessage((message, source) => {
      if (!message.isRequest) return;
      this.requests.push({ at: network.clock.now(), request: message });
      const response = script(message, this.requests.length - 1);
      if (response) network.transmit(response, address, source);
    });
  }

  /** Expires of each REGISTER, as sent. */
  expires(): Array<string | undefined> {
    return this.requests.map(({ request }) => request.get('expires'));
  }
}

/** A 200 binding the request's Contact for `expires` seconds (its parameter, or with `header` the Expires header). */
export function grant(request: SipRequest, expires: number, header = false): SipResponse {
  const response = createResponse(request, 200);
  const contact = request.get('contact') ?? '';
  response.append('Contact', header ? contact : `${contact};expires=${expires}`);
  if (header) response.append('Expires', String(expires));
  return response;
}

/** Challenges (401, MD5) every REGISTER without valid credentials for `username`/`password`. */
export function digestChallenger(
  clock: FakeClock,
  credentials: { realm: string; username: string; password: string },
  onAuthorized: (request: SipRequest) => SipResponse,
): RegistrarScript {
  const verifier = new DigestVerifier({
    realm: credentials.realm,
    secret: 'registrar-secret',
    clock,
    algorithms: ['MD5'],
  });
  return (request) => {
    const authorization = request.get('authorization');
    const result = authorization
      ? verifier.verify({
          authorization,
          method: request.method,
          uri: request.uri,
          lookupPassword: (user) => (user === credentials.username ? credentials.password : undefined),
        })
      : undefined;
    if (result?.ok) return onAuthorized(request);
    const challenge = createResponse(request, 401);
    for (const value of verifier.challenges({ stale: result?.stale === true }))
      challenge.append('WWW-Authenticate', value);
    return challenge;
  };
}

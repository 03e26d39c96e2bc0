/**
 * Digest authentication at the trunk edge: a verifier per inbound trunk that requires it
 * (401 with one challenge per algorithm, RFC 8760 §2.4) and an Authorizer answering 401/407
 * for outbound trunks with credentials (RFC 3261 §22.2).
 */
import { randomBytes } from 'node:crypto';
import type { TrunkConfig } from '../config/index.js';
import {
  type Authorizer,
  DigestClient,
  DigestVerifier,
  pickChallenge,
  type SipRequest,
} from '../sip/index.js';
import type { Clock } from '../util/index.js';

/** What an inbound INVITE without valid credentials is answered: 401 with challenges, or 403. */
export interface AuthChallenge {
  status: number;
  headers: Array<[string, string]>;
  /** Why credentials were refused (for the log), on a 403. */
  reason?: string;
}

export class DigestSupport {
  /**
   * One verifier per trunk, for its realm and algorithms: a reload that changes them replaces
   * it (its nonces then read as stale), so the map holds no verifier of a configuration gone.
   */
  readonly #verifiers = new Map<string, { key: string; verifier: DigestVerifier }>();

  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** undefined when the trunk needs no auth or the INVITE's credentials verify. */
  challengeInbound(trunk: TrunkConfig, invite: SipRequest): AuthChallenge | undefined {
    const auth = trunk.inbound?.auth;
    if (!auth) return undefined;
    const realm = auth.realm ?? 'patchbay';
    const key = `${trunk.name}|${realm}|${auth.algorithms.join(',')}`;
    let verifier = this.#verifiers.get(trunk.name);
    if (verifier?.key !== key) {
      verifier = {
        key,
        verifier: new DigestVerifier({
          realm,
          // Its own random key: a nonce counts its uses in the verifier that issued it, so another
          // trunk's verifier, or this trunk's after a reload (even back to an earlier
          // configuration), would take a used one as new (a replay). A restart makes them stale.
          secret: randomBytes(32).toString('hex'),
          clock: this.#clock,
          algorithms: [...auth.algorithms],
        }),
      };
      this.#verifiers.set(trunk.name, verifier);
    }
    const authorization = invite.get('authorization');
    let stale = false;
    if (authorization !== undefined) {
      const result = verifier.verifier.verify({
        authorization,
        method: invite.method,
        uri: invite.uri,
        lookupPassword: (username) => (username === auth.username ? auth.password : undefined),
      });
      if (result.ok) return undefined;
      if (!result.stale) return { status: 403, headers: [], reason: result.reason };
      stale = true;
    }
    // stale=true: the caller retries with the new nonce instead of taking its password as wrong.
    return {
      status: 401,
      headers: verifier.verifier
        .challenges({ stale })
        .map((value) => ['WWW-Authenticate', value] as [string, string]),
    };
  }

  /** With `realm`, only challenges for it are answered (another realm's 401/407 ends the attempt). */
  authorizer(credentials: { username: string; password: string; realm?: string | undefined }): Authorizer {
    const client = new DigestClient();
    return (response, request) => {
      const header = response.status === 407 ? 'proxy-authenticate' : 'www-authenticate';
      const values = response.getAll(header);
      if (values.length === 0) return undefined;
      try {
        const challenge = pickChallenge(values, credentials.realm);
        const value = client.authorize({
          challenge,
          method: request.method,
          uri: request.uri,
          username: credentials.username,
          password: credentials.password,
          body: request.body.toString(),
        });
        const name = response.status === 407 ? 'Proxy-Authorization' : 'Authorization';
        return { header: [name, value], stale: challenge.stale };
      } catch {
        return undefined;
      }
    };
  }
}

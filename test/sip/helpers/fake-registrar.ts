/**
 * A scripted registrar on the in-memory SIP network: it logs every request with the virtual
 * time it arrived and answers with what the test's script returns (nothing: no answer).
 */
import { DigestVerifier } from '../../../src/sip/digest.js';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { createResponse } from '../../../src/sip/message-ops.js';
import type { TransportAddress } from '../../../src/sip/types.js';
import { SipUserAgent } from '../../../src/sip/user-agent.js';
import { FakeClock, silentLogger } from '../../../src/util/index.js';
import { MemoryNetwork } from './memory-transport.js';

/** Where the registering user agent and the registrar of `registrarScene` are bound. */
export const US: TransportAddress = { transport: 'udp', address: '127.0.0.1', port: 5060 };
export const REGISTRAR: TransportAddress = { transport: 'udp', address: '127.0.0.9', port: 5090 };

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

/**
 * Challenges (401, MD5) every REGISTER without valid credentials for `username`/`password`;
 * `secret` keys its nonces (another one reads them as stale, as after a restart).
 */
export function digestChallenger(
  clock: FakeClock,
  credentials: { realm: string; username: string; password: string },
  onAuthorized: (request: SipRequest) => SipResponse,
  secret = 'registrar-secret',
): RegistrarScript {
  const verifier = new DigestVerifier({
    realm: credentials.realm,
    secret,
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

/**
 * A user agent at US and a FakeRegistrar at REGISTRAR on one FakeClock's in-memory network;
 * `script` is made with the clock (digest nonces need it). Close `ua` when done.
 */
export function registrarScene(script: (clock: FakeClock) => RegistrarScript) {
  const clock = new FakeClock();
  const network = new MemoryNetwork(clock);
  const ua = new SipUserAgent({
    transport: network.bind(US),
    clock,
    logger: silentLogger,
    onInvite: () => {},
  });
  const registrar = new FakeRegistrar(network, REGISTRAR, script(clock));
  return { clock, network, ua, registrar };
}

/** Lets queued deliveries and the promise chains they start run. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Advances virtual time in steps, delivering what was sent before each step. */
export async function run(clock: FakeClock, ms: number, step = 100): Promise<void> {
  for (let done = 0; done < ms; done += step) {
    await flush();
    clock.advance(Math.min(step, ms - done));
  }
  await flush();
}

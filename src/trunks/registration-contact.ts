/** The Contact user part that ties calls arriving on a registration to their trunk. */
import { createHmac } from 'node:crypto';
import type { RegisterConfig } from '../config/index.js';

/**
 * `pb-` and 24 hex digits of an HMAC under the trunk's password over its name, registrar and
 * username. The same registration config gives the same Contact across restarts and reloads,
 * so the registrar replaces our binding rather than keeping a stale one next to it (RFC 3261
 * §10.3 matches bindings by Contact URI); without the password nobody can work it out, so a
 * scanner cannot pass for the carrier by guessing the Request-URI.
 */
export function registrationContactUser(trunkName: string, register: RegisterConfig): string {
  const mac = createHmac('sha256', register.password)
    .update(`${trunkName}\n${register.registrar}\n${register.username}`)
    .digest('hex');
  return `pb-${mac.slice(0, 24)}`;
}

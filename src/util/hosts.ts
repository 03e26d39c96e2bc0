/** Host names and addresses as they are compared. */
import { isIP } from 'node:net';

/**
 * A host as names are compared: lower case (DNS names are case-insensitive, RFC 4343), an
 * IPv6 address in its compressed form (RFC 5952), so `2001:DB8:0:0:0:0:0:1` is `2001:db8::1`.
 */
export function canonicalHost(host: string): string {
  if (isIP(host) !== 6) return host.toLowerCase();
  return new URL(`http://[${host}]`).hostname.slice(1, -1);
}

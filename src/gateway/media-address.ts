import { networkInterfaces } from 'node:os';

/** The address to write into SDP when bound to a wildcard: the first external IPv4. */
export function advertisableAddress(bind: string): string {
  if (bind !== '0.0.0.0' && bind !== '::') return bind;
  for (const addresses of Object.values(networkInterfaces())) {
    const external = addresses?.find((address) => address.family === 'IPv4' && !address.internal);
    if (external) return external.address;
  }
  return '127.0.0.1';
}

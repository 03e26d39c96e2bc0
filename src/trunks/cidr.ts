/** Longest-prefix matching of IPv4/IPv6 source addresses against trunk CIDRs. */
import { isIPv4, isIPv6 } from 'node:net';
import { parseCidr } from '../config/index.js';

/** IPv4 as a 32-bit and IPv6 as a 128-bit bigint; IPv4-mapped IPv6 (::ffff:a.b.c.d, any spelling) counts as IPv4. */
function addressToBigInt(address: string): { family: 'ipv4' | 'ipv6'; value: bigint } | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) address = mapped[1];
  if (isIPv4(address)) {
    const value = address.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
    return { family: 'ipv4', value };
  }
  if (!isIPv6(address)) return undefined;
  let text = address.split('%')[0] ?? '';
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const v4 = addressToBigInt(dotted[1])!.value;
    text = `${text.slice(0, -dotted[1].length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros = Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  const groups = tail === undefined ? headGroups : [...headGroups, ...zeros, ...tailGroups];
  const value = groups.reduce((acc, group) => (acc << 16n) | BigInt(Number.parseInt(group, 16)), 0n);
  // Mapped in another spelling (0:0:0:0:0:ffff:a.b.c.d, ::ffff:c000:201): IPv4 all the same.
  if (value >> 32n === 0xffffn) return { family: 'ipv4', value: value & 0xffff_ffffn };
  return { family: 'ipv6', value };
}

/** One address in any spelling: `::ffff:192.0.2.1` is `192.0.2.1`, `2001:DB8::1` is `2001:db8:0::1`. */
export function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  const x = addressToBigInt(a);
  const y = addressToBigInt(b);
  return !!x && !!y && x.family === y.family && x.value === y.value;
}

interface Block<T> {
  family: 'ipv4' | 'ipv6';
  network: bigint;
  mask: bigint;
  prefix: number;
  value: T;
}

/** A table of CIDR → value; `lookup` returns the value of the longest matching prefix. */
export class CidrTable<T> {
  readonly #blocks: Block<T>[] = [];

  /** Throws RangeError for text that is not a CIDR (config validation catches these first). */
  add(cidr: string, value: T): void {
    const parsed = parseCidr(cidr);
    const address = parsed && addressToBigInt(parsed.address);
    if (!parsed || !address) throw new RangeError(`not a CIDR: ${cidr}`);
    // An IPv4-mapped IPv6 block (::ffff:a.b.c.d/n, n >= 96) is stored as the IPv4 block /(n-96).
    const prefix = address.family === parsed.family ? parsed.prefix : parsed.prefix - 96;
    const bits = address.family === 'ipv4' ? 32 : 128;
    const all = (1n << BigInt(bits)) - 1n;
    const mask = prefix === 0 ? 0n : (all << BigInt(bits - prefix)) & all;
    this.#blocks.push({ family: address.family, network: address.value & mask, mask, prefix, value });
  }

  lookup(address: string): { value: T; prefix: number } | undefined {
    const parsed = addressToBigInt(address);
    if (!parsed) return undefined;
    let best: Block<T> | undefined;
    for (const block of this.#blocks) {
      if (block.family !== parsed.family || (parsed.value & block.mask) !== block.network) continue;
      if (!best || block.prefix > best.prefix) best = block;
    }
    return best && { value: best.value, prefix: best.prefix };
  }
}

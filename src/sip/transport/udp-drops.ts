/**
 * The kernel's count of datagrams dropped on a UDP socket (receive buffer full), from the
 * `drops` column of /proc/net/udp and /proc/net/udp6 (Linux). Read on demand (a metrics
 * scrape), never per datagram.
 */
import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { endianness } from 'node:os';

/** Dropped datagrams of the socket bound to `address`:`port`, or undefined where /proc has none. */
export async function readUdpDrops(address: string, port: number): Promise<number | undefined> {
  const file = isIPv4(address) ? '/proc/net/udp' : '/proc/net/udp6';
  try {
    return udpDropsFromProc(await readFile(file, 'latin1'), address, port);
  } catch {
    return undefined; // not Linux, or /proc not mounted
  }
}

/** Sums `drops` over the rows whose local address is `address`:`port` (one, normally). */
export function udpDropsFromProc(table: string, address: string, port: number): number | undefined {
  const local = procAddress(address);
  if (local === undefined) return undefined;
  const wanted = `${local}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let drops: number | undefined;
  for (const row of table.split('\n')) {
    const columns = row.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
    if (columns[1] !== wanted || columns.length < 13) continue;
    drops = (drops ?? 0) + Number(columns[12]);
  }
  return drops;
}

/** The kernel's hex spelling of an address: 32-bit words in host byte order. */
export function procAddress(address: string): string | undefined {
  const bytes = isIPv4(address) ? ipv4Bytes(address) : ipv6Bytes(address.split('%')[0] ?? '');
  if (bytes === undefined) return undefined;
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 4) {
    const word = bytes.slice(i, i + 4);
    words.push(...(endianness() === 'LE' ? word.reverse() : word));
  }
  return words.map((byte) => byte.toString(16).toUpperCase().padStart(2, '0')).join('');
}

function ipv4Bytes(address: string): number[] {
  return address.split('.').map(Number);
}

function ipv6Bytes(address: string): number[] | undefined {
  const halves = address.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string | undefined): number[] =>
    part
      ? part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [Number.parseInt(group, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = ipv4Bytes(group);
          return [(a << 8) | b, (c << 8) | d];
        })
      : [];
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 && missing < 1) return undefined;
  const all = halves.length === 2 ? [...head, ...new Array<number>(missing).fill(0), ...tail] : head;
  if (all.length !== 8 || all.some((group) => !(group >= 0 && group <= 0xffff))) return undefined;
  return all.flatMap((group) => [group >> 8, group & 0xff]);
}

/**
 * Datagrams the kernel dropped on a UDP socket because its receive buffer was full: the `drops`
 * column of /proc/net/udp and /proc/net/udp6 (Linux). Nothing else reports them: Node never
 * sees these datagrams.
 */
import { readFileSync } from 'node:fs';

/** Kernel drop counts by local UDP port, summed over every socket bound to that port. */
export type UdpDropTable = ReadonlyMap<number, number>;

const PROC_NET_UDP = ['/proc/net/udp', '/proc/net/udp6'];
/**
 * A socket line, as linux net/ipv4/udp.c udp4_format_sock writes it: sl, local_address,
 * rem_address, st, tx_queue:rx_queue, tr:tm->when, retrnsmt, uid, timeout, inode, ref, pointer,
 * drops.
 */
const LOCAL_ADDRESS_FIELD = 1;
const DROPS_FIELD = 12;

/**
 * Reads the drop counts of all UDP sockets once. The kernel walks its whole UDP table to
 * write these files (about half a millisecond even when nearly empty), so read once per
 * metrics scrape and share the table across sessions, never per packet. Empty where the
 * files do not exist (not Linux).
 */
export function readUdpDrops(files: readonly string[] = PROC_NET_UDP): UdpDropTable {
  const table = new Map<number, number>();
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      continue;
    }
    addProcNetUdp(text, table);
  }
  return table;
}

/** Adds each socket line's drops to its local port (hex after the colon of `local_address`). */
export function addProcNetUdp(text: string, table: Map<number, number>): void {
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const local = fields[LOCAL_ADDRESS_FIELD];
    const drops = Number(fields[DROPS_FIELD]);
    if (!local || !Number.isSafeInteger(drops)) continue; // the header line, or a truncated one
    const port = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (Number.isInteger(port)) table.set(port, (table.get(port) ?? 0) + drops);
  }
}

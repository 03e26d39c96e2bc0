/**
 * Datagrams the kernel dropped on a UDP socket because its receive buffer was full: the `drops`
 * column of /proc/net/udp and /proc/net/udp6 (Linux). Nothing else reports them: Node never
 * sees these datagrams.
 */
import { readFileSync } from 'node:fs';

/** Kernel drop counts by local UDP port, summed over every socket bound to that port. */
export type UdpDropTable = ReadonlyMap<number, number>;

const PROC_NET_UDP = ['/proc/net/udp', '/proc/net/udp6'];
/** The host's UDP counters: `Udp:` lines in snmp, `Udp6InErrors` in snmp6. */
const PROC_NET_SNMP = ['/proc/net/snmp', '/proc/net/snmp6'];
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
  for (const text of existingTexts(files)) addProcNetUdp(text, table);
  return table;
}

/** The text of each of `files` that can be read (/proc files are absent off Linux). */
function* existingTexts(files: readonly string[]): Generator<string> {
  for (const file of files) {
    try {
      yield readFileSync(file, 'latin1');
    } catch {
      // not there: nothing to add
    }
  }
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

/**
 * The host's UDP InErrors over IPv4 and IPv6 (RFC 4113 udpInErrors), undefined where the
 * files do not exist. Linux counts every datagram it drops on a UDP socket there as it adds it
 * to that socket's `drops` (a full receive buffer, memory, a checksum, a filter).
 */
export function readUdpInErrors(files: readonly string[] = PROC_NET_SNMP): number | undefined {
  let total: number | undefined;
  for (const text of existingTexts(files)) {
    const errors = udpInErrorsIn(text);
    if (errors !== undefined) total = (total ?? 0) + errors;
  }
  return total;
}

/** InErrors from /proc/net/snmp's `Udp:` header and value lines, or snmp6's `Udp6InErrors` line. */
export function udpInErrorsIn(text: string): number | undefined {
  const lines = text.split('\n');
  const header = lines.findIndex((line) => line.startsWith('Udp: ') && /[A-Za-z]/.test(line.slice(5)));
  if (header >= 0) {
    const column = (lines[header] ?? '').trim().split(/\s+/).indexOf('InErrors');
    const value = Number((lines[header + 1] ?? '').trim().split(/\s+/)[column]);
    return column > 0 && Number.isSafeInteger(value) ? value : undefined;
  }
  const v6 = lines.find((line) => line.startsWith('Udp6InErrors'));
  const value = Number(v6?.trim().split(/\s+/)[1]);
  return v6 !== undefined && Number.isSafeInteger(value) ? value : undefined;
}

/**
 * Samples the drop table for a reporter that asks again and again (a media worker every
 * 500 ms): the table is read only when the host's UDP InErrors moved since the last one, so
 * on a host that drops nothing each sample costs two small files, not a walk of every UDP
 * socket on the host (which grows with the calls of every worker reading it). Undefined: no
 * socket dropped anything since the last table.
 */
export class UdpDropSampler {
  readonly #tables: readonly string[];
  readonly #counters: readonly string[];
  #inErrorsAtLastTable: number | undefined;

  constructor(tables: readonly string[] = PROC_NET_UDP, counters: readonly string[] = PROC_NET_SNMP) {
    this.#tables = tables;
    this.#counters = counters;
  }

  sample(): UdpDropTable | undefined {
    // The counter first: a drop between the two reads is in the table and moves the next count.
    const inErrors = readUdpInErrors(this.#counters);
    if (inErrors !== undefined && inErrors === this.#inErrorsAtLastTable) return undefined;
    this.#inErrorsAtLastTable = inErrors;
    return readUdpDrops(this.#tables);
  }
}

/**
 * Where a process's resident memory lives, from /proc/<pid>/smaps (Linux): glibc's main malloc
 * arena (`[heap]`), its per-thread arenas, the rest of the anonymous memory (V8's heaps and code,
 * thread stacks, mmap'd allocations) and file-backed pages (the binary, libraries). A soak reads
 * it to tell growth in the JS heaps from growth in malloc's arenas, which no heap figure shows.
 */
import { readFileSync } from 'node:fs';

/**
 * A glibc thread arena is one 64 MiB-aligned reservation of HEAP_MAX_SIZE (64 MiB on 64-bit:
 * twice DEFAULT_MMAP_THRESHOLD_MAX), mapped read-write as far as it is used and PROT_NONE
 * beyond: an rw-p mapping at a 64 MiB boundary whose ---p successor ends 64 MiB after it.
 */
const ARENA_BYTES = 64 * 2 ** 20;

export interface ResidentSplit {
  mainArenaMiB: number;
  threadArenasMiB: number;
  threadArenas: number;
  otherAnonMiB: number;
  fileMiB: number;
}

interface Mapping {
  start: number;
  end: number;
  perms: string;
  inode: number;
  path: string;
  rssKiB: number;
}

function mappings(pid: number): Mapping[] {
  const out: Mapping[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (header) {
      const [, start = '0', end = '0', perms = '', inode = '0', path = ''] = header;
      out.push({
        start: Number.parseInt(start, 16),
        end: Number.parseInt(end, 16),
        perms,
        inode: Number(inode),
        path,
        rssKiB: 0,
      });
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    const last = out.at(-1);
    if (rss && last) last.rssKiB = Number(rss[1]);
  }
  return out;
}

export function residentSplit(pid: number): ResidentSplit {
  const split: ResidentSplit = {
    mainArenaMiB: 0,
    threadArenasMiB: 0,
    threadArenas: 0,
    otherAnonMiB: 0,
    fileMiB: 0,
  };
  const all = mappings(pid);
  all.forEach((mapping, index) => {
    const mib = mapping.rssKiB / 1024;
    const next = all[index + 1];
    if (mapping.path === '[heap]') split.mainArenaMiB += mib;
    else if (mapping.inode !== 0) split.fileMiB += mib;
    else if (
      mapping.perms === 'rw-p' &&
      mapping.start % ARENA_BYTES === 0 &&
      next?.perms === '---p' &&
      next.start === mapping.end &&
      next.end - mapping.start === ARENA_BYTES
    ) {
      split.threadArenasMiB += mib;
      split.threadArenas++;
    } else split.otherAnonMiB += mib;
  });
  return split;
}

/**
 * Another process's CPU time and resident memory, read from /proc (Linux), so a bench can
 * measure the process under test without instrumenting it.
 */
import { readFileSync } from 'node:fs';

/** Linux USER_HZ: /proc/<pid>/stat times are in 1/100 s. */
const TICKS_PER_SECOND = 100;
const PAGE_BYTES = 4096;

/** The fields of /proc/<pid>/stat after the parenthesised command name (field 3 onwards). */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime of a process (all its threads), in seconds: fields 14 and 15 of proc(5). */
export function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Resident set size in bytes: field 24 of proc(5), in pages. */
export function rssBytes(pid: number): number {
  return Number(statFields(pid)[21]) * PAGE_BYTES;
}

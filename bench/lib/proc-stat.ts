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

/** A process's CPU time (all its threads), in seconds: in user mode and in the kernel on its behalf. */
export interface CpuTimes {
  user: number;
  kernel: number;
}

/** utime and stime: fields 14 and 15 of proc(5). */
export function cpuTimes(pid: number): CpuTimes {
  const fields = statFields(pid);
  return { user: Number(fields[11]) / TICKS_PER_SECOND, kernel: Number(fields[12]) / TICKS_PER_SECOND };
}

/** utime + stime of a process (all its threads), in seconds. */
export function cpuSeconds(pid: number): number {
  const { user, kernel } = cpuTimes(pid);
  return user + kernel;
}

/** Resident set size in bytes: field 24 of proc(5), in pages. */
export function rssBytes(pid: number): number {
  return Number(statFields(pid)[21]) * PAGE_BYTES;
}

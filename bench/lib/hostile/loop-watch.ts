/**
 * Loaded into the gateway process by the hostile mix (`node --import`): every 10 ms it checks
 * how long the event loop went without it, and prints each wait over STALL_MS to stderr as
 * `loop-stall <epoch ms> <wall ms> <cpu ms> <main ms> <runq ms>`: the process's CPU time in
 * that wait (every thread: V8's GC helpers and the libuv pool too), the main thread's own time
 * on a CPU, and the time the main thread was ready to run but waited for a CPU (both from
 * /proc/thread-self/schedstat, Linux; -1 elsewhere). So a stall is told apart from being
 * descheduled on a shared machine: the gateway's own loop work is the main thread's time.
 * Media worker threads load it too (`--import` applies to workers): it watches the main thread,
 * the one with SIP, only.
 */
import { readFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

const CHECK_MS = 10;
const STALL_MS = 40;

/** The main thread's [time on a CPU, time waiting on a run queue], ms; [-1, -1] off Linux. */
function mainThreadTimes(): [number, number] {
  try {
    const [onCpu, waiting] = readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ');
    return [Number(onCpu) / 1e6, Number(waiting) / 1e6];
  } catch {
    return [-1, -1];
  }
}

function watch(): void {
  let lastWall = performance.now();
  let lastCpu = process.cpuUsage();
  let lastMain = mainThreadTimes();
  setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    const main = mainThreadTimes();
    const wallMs = now - lastWall;
    if (wallMs > STALL_MS) {
      const cpuMs = (cpu.user + cpu.system) / 1000;
      const [onCpuMs, waitingMs] = main[0] < 0 ? [-1, -1] : [main[0] - lastMain[0], main[1] - lastMain[1]];
      const at = performance.timeOrigin + lastWall;
      process.stderr.write(
        `loop-stall ${at.toFixed(0)} ${wallMs.toFixed(1)} ${cpuMs.toFixed(1)} ${onCpuMs.toFixed(1)} ${waitingMs.toFixed(1)}\n`,
      );
    }
    lastWall = now;
    lastCpu = process.cpuUsage();
    lastMain = mainThreadTimes();
  }, CHECK_MS).unref();
}

if (isMainThread) watch();

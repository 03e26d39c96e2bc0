/**
 * Loaded into the gateway process by the hostile mix (`node --import`): every 10 ms it checks
 * how long the event loop went without it, and prints each wait over STALL_MS to stderr as
 * `loop-stall <epoch ms> <wall ms> <cpu ms>` — the process's CPU time in that wait next to
 * the wall time, so a stall is told apart from being descheduled on a shared machine: the
 * gateway's own work held the loop for no more than the smaller of the two.
 */
const CHECK_MS = 10;
const STALL_MS = 40;

let lastWall = performance.now();
let lastCpu = process.cpuUsage();
setInterval(() => {
  const now = performance.now();
  const cpu = process.cpuUsage(lastCpu);
  const wallMs = now - lastWall;
  if (wallMs > STALL_MS) {
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const at = performance.timeOrigin + lastWall;
    process.stderr.write(`loop-stall ${at.toFixed(0)} ${wallMs.toFixed(1)} ${cpuMs.toFixed(1)}\n`);
  }
  lastWall = now;
  lastCpu = process.cpuUsage();
}, CHECK_MS).unref();

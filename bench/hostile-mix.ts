/**
 * The hostile mix at full rates for a long run (bench/lib/hostile/mix.ts): a clean witness
 * call through mutated SIP at 1,500/s from ten sources, an INVITE flood at 10x its source's
 * limit, 100 idle and 100 slowloris TCP connections, 3,000 malformed RTP/RTCP datagrams/s at
 * the witness's ports and two bots bursting 10,000 bad messages and 10,000 marks every 20 s.
 * Prints the witness's gaps and losses, OPTIONS latency, RSS and the shed counts per run.
 *
 *   npx tsx bench/hostile-mix.ts [seconds=120] [runs=1] [seed=1] [scale=1]
 *
 * `scale` multiplies the SIP and RTP rates and the per-source limit (the flood stays at 10x
 * it); the gateway is the compiled one (`npm run build` first).
 */
import { type HostileMixReport, runHostileMix } from './lib/hostile/mix.js';

const seconds = Number(process.argv[2] ?? 120);
const runs = Number(process.argv[3] ?? 1);
const seed = Number(process.argv[4] ?? 1);
const scale = Number(process.argv[5] ?? 1);

function print(report: HostileMixReport): void {
  console.log(JSON.stringify(report, null, 1));
}

for (let run = 0; run < runs; run++) {
  const report = await runHostileMix({
    seed: seed + run,
    baselineMs: 5000,
    hostileMs: seconds * 1000,
    requestsPerSourcePerSec: 200 * scale,
    sipFuzz: { ratePerSec: 1500 * scale, sources: 10, tcpShare: 0.2 },
    floodFactor: 10,
    tcp: { idle: 100, slow: 100, idleTimeoutSec: 30, headerTimeoutSec: 10 },
    rtpJunkPerSec: 3000 * scale,
    bots: { badMessages: 10_000, marks: 10_000, bursts: Math.max(1, Math.round(seconds / 20)) },
    log: (line) => console.error(`[run ${run + 1}] ${line}`),
  });
  print(report);
}

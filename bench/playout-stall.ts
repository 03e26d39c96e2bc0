/**
 * What a stall of the gateway's loop leaves standing in one call's bot->caller path: the model
 * in bench/lib/stalled-playout.ts (the real Playout and HeldSlots in simulated time, the
 * catch-up in MediaClock's slices) for bots answering 2-18 ms after their tick and stalls of
 * 60-400 ms. Reported per second from the stall on: p50 / p99 of how long the bot's speech
 * frames waited in the gateway (arrival to their RTP slot), and the whole run's silent slots
 * (underruns) and frames given back; the same call with no stall is the baseline.
 *
 *   npx tsx bench/playout-stall.ts [tickWorkMs=7]
 *
 * No sockets and no wall clock: it shows the policy (held slots, late-audio debt, standing
 * delay), not the machine. The load bench's `--timeline` shows the same on real sockets.
 */
import { SECONDS_AFTER, simulateStall } from './lib/stalled-playout.js';

const tickWorkMs = Number(process.argv[2] ?? 7);

console.log(
  `playout after a stall: one call, a real-time talker, the catch-up in slices of ${tickWorkMs} ms of work per tick\n`,
);
console.log(
  `| bot answers after its tick | stall | wait p50 / p99 ms, each second from the stall on (1 .. ${SECONDS_AFTER}) | silent slots | frames given back |`,
);
console.log('| --- | --- | --- | --- | --- |');
for (const answerMs of [2, 7, 12, 18]) {
  for (const stallMs of [0, 60, 100, 200, 400]) {
    const { seconds, silentSlots, givenBack } = simulateStall(answerMs, stallMs, tickWorkMs);
    const perSecond = seconds.map(([p50, p99]) => `${p50.toFixed(0)} / ${p99.toFixed(0)}`).join(', ');
    console.log(
      `| ${answerMs} ms | ${stallMs === 0 ? 'none (baseline)' : `${stallMs} ms`} | ${perSecond} | ${silentSlots} | ${givenBack} |`,
    );
  }
}

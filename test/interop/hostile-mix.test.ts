/**
 * The hostile mix, short (bench/lib/hostile/mix.ts; bench/hostile-mix.ts runs it long at full
 * rates): a clean witness call through 15 s of everything at once — mutated SIP over UDP and
 * TCP from ten sources under their limit, an INVITE flood at ten times its source's limit,
 * 100 idle and 100 slowloris TCP connections, malformed RTP/RTCP at the witness's ports, and
 * two other calls' bots bursting 10,000 bad messages and 10,000 marks. Rates are lower than
 * the bench's so that gateway, attack, witness and capture share 2 cores; every ingredient is
 * there. Timing is judged against a bare pacer process captured beside the witness (what the
 * shared machine alone allowed in the same seconds): the witness's gaps may exceed the
 * pacer's worst by no more than 40 ms (no gap over 60 ms on a quiet machine), the prober's
 * OPTIONS may take 200 ms more than the pacer's worst stall. Every frame the gateway sends
 * arrives, and while the witness's own RTP reached the gateway without a gap over 60 ms, every
 * frame comes back through the bot. A call placed mid-attack is answered without a
 * retransmission; RSS stays under twice the idle figure plus the calls' cost.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runHostileMix } from '../../bench/lib/hostile/mix.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { sippAvailable } from './helpers/sipp.js';

const skip = skipUnlessPresent(
  sippAvailable() && commandAvailable('tshark', ['-v']),
  'sipp or tshark missing',
);
/** The bounds on a quiet machine: gaps, and the OPTIONS answer time. */
const MAX_GAP_MS = 60;
const OPTIONS_DEADLINE_MS = 200;
const FRAME_MS = 20;

test('a witness call and a well-behaved source go through the hostile mix unharmed', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const report = await runHostileMix({
    seed: 12,
    baselineMs: 3000,
    hostileMs: 15_000,
    requestsPerSourcePerSec: 50,
    sipFuzz: { ratePerSec: 300, sources: 10, tcpShare: 0.2 },
    floodFactor: 10,
    tcp: { idle: 100, slow: 100, idleTimeoutSec: 4, headerTimeoutSec: 2 },
    rtpJunkPerSec: 600,
    bots: { badMessages: 10_000, marks: 10_000, bursts: 1 },
    log: (line) => t.diagnostic(line),
  });
  const [, hostile, after] = report.witness;
  const [, hostileOptions] = report.options;
  const [, floor] = report.floor;
  assert.ok(hostile && after && hostileOptions && floor);
  t.diagnostic(`witness: ${JSON.stringify(report.witness)}`);
  t.diagnostic(`floor: ${JSON.stringify(report.floor)}; inbound: ${JSON.stringify(report.inbound)}`);
  t.diagnostic(`options: ${JSON.stringify(report.options)}`);
  t.diagnostic(`witness at the gateway: ${JSON.stringify(report.witnessMedia)}`);
  t.diagnostic(`rss: ${JSON.stringify(report.rss)}; legit call: ${JSON.stringify(report.legitCall)}`);
  t.diagnostic(`cpu: ${JSON.stringify(report.cpu)}`);
  t.diagnostic(`metrics: ${JSON.stringify(report.metrics)}`);
  t.diagnostic(`sent: ${JSON.stringify(report.sent)}`);

  assert.equal(report.gateway.running, true);
  assert.deepEqual(report.gateway.errorLines, [], 'nothing logged at error or fatal level');
  assert.equal(report.carrier.endedByGateway, 0, 'the gateway ended none of the carrier calls');
  assert.ok(hostile.packets > (15_000 / FRAME_MS) * 0.95, `${hostile.packets} packets in 15 s`);
  for (const [i, phase] of [hostile, after].entries()) {
    assert.equal(
      phase.sequenceLost + phase.ticksLost,
      0,
      `${phase.name}: every frame the gateway sent arrived`,
    );
    const inbound = report.inbound[i + 1];
    if (inbound && inbound.maxGapMs <= MAX_GAP_MS)
      assert.equal(phase.echoLost, 0, `${phase.name}: every witness frame came back through the bot`);
    else
      t.diagnostic(
        `${phase.name}: the witness's own RTP reached the gateway with a ${inbound?.maxGapMs} ms gap`,
      );
  }
  const stalledMs = floor.maxGapMs - FRAME_MS;
  assert.ok(
    hostile.maxGapMs <= Math.max(MAX_GAP_MS, floor.maxGapMs + MAX_GAP_MS - FRAME_MS),
    `largest gap ${hostile.maxGapMs.toFixed(1)} ms under attack; the bare pacer's ${floor.maxGapMs.toFixed(1)} ms`,
  );
  assert.equal(hostileOptions.answered, hostileOptions.sent, 'every OPTIONS answered');
  assert.ok(
    hostileOptions.maxMs <= OPTIONS_DEADLINE_MS + Math.max(0, stalledMs),
    `OPTIONS answered within ${hostileOptions.maxMs.toFixed(1)} ms; the machine stalled a bare pacer ${stalledMs.toFixed(1)} ms`,
  );
  assert.equal(report.legitCall.successful, true, report.legitCall.errors);
  assert.equal(report.legitCall.retransmissions, 0, 'the call placed mid-attack needed no retransmission');
  assert.ok(
    report.rss.peakKb < report.rss.limitKb,
    `RSS ${report.rss.peakKb} kB, limit ${report.rss.limitKb} kB`,
  );

  // Every defence was exercised, and /metrics shows it.
  const metric = (name: string) => report.metrics[name] ?? 0;
  assert.ok(metric('patchbay_sip_shed_total{reason="rate_limited"}') > 0);
  assert.ok(metric('patchbay_sip_shed_total{reason="malformed"}') > 0);
  assert.ok(metric('patchbay_sip_tcp_closed_total{reason="idle"}') > 0);
  assert.ok(metric('patchbay_sip_tcp_closed_total{reason="header_timeout"}') > 0);
  assert.ok(metric('patchbay_bot_socket_pauses_total') > 0);
  assert.equal(metric('patchbay_media_clock_ticks_total{outcome="skipped"}'), 0);
  const { bots, flood } = report.sent;
  assert.ok(
    bots.marksEchoed > 0 && bots.marksEchoed < bots.marksSent,
    `${bots.marksEchoed} marks echoed of 10,000`,
  );
  assert.equal(bots.marksOutOfOrder, 0, 'marks echoed in order');
  assert.ok(
    (flood.finals['503'] ?? 0) <= flood.answeredInvites * 1.1,
    `${flood.finals['503']} 503s for ${flood.answeredInvites} answered INVITEs: no Timer G storm`,
  );
});

/**
 * The README's quick start, measured: `patchbay start` with no config (SIP on 127.0.0.1:5060,
 * API on 8080, the built-in demo bot on a loopback WebSocket) carries one SIPp uac_pcap call,
 * and the caller's audio reaches the bot no later than the jitter buffer holds it plus one
 * frame: the RTP-to-WebSocket latency is the buffer's delay and nothing else.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { type PatchbayChild, spawnPatchbay } from './helpers/gateway-process.js';
import { freePort, runSipp } from './helpers/sipp.js';

const skip = skipUnlessPresent(commandAvailable('sipp', ['-v']), 'needs sipp');
const FRAME_SECONDS = 0.02;

let gateway: PatchbayChild;

before(async () => {
  if (skip) return;
  gateway = await spawnPatchbay(['start']);
});

after(async () => {
  if (skip || !gateway) return;
  gateway.child.kill('SIGTERM');
  await gateway.exited;
});

interface HistogramSample {
  buckets: Record<string, string>;
  count: string;
  sum: string;
}

function histogram(families: PrometheusFamily[], name: string): HistogramSample {
  const family = families.find((candidate) => candidate.name === name);
  const sample = family?.metrics[0] as HistogramSample | undefined;
  assert.ok(sample, `${name} is exported`);
  return sample;
}

/** The median by linear interpolation inside the bucket that holds it (as PromQL's histogram_quantile). */
function medianOf(sample: HistogramSample): number {
  const bounds = Object.entries(sample.buckets)
    .map(([bound, count]) => [Number(bound), Number(count)] as const)
    .sort(([a], [b]) => a - b);
  const half = Number(sample.count) / 2;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [bound, count] of bounds) {
    if (count >= half)
      return lowerBound + ((bound - lowerBound) * (half - lowerCount)) / (count - lowerCount);
    lowerBound = bound;
    lowerCount = count;
  }
  return Number.POSITIVE_INFINITY;
}

test('quick start: a call through the embedded default reaches the demo bot within the jitter delay plus one frame', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const result = await runSipp({
    scenario: 'uac_pcap',
    remote: '127.0.0.1:5060',
    localPort: await freePort(),
    calls: 1,
    timeoutMs: 40_000,
  });
  assert.equal(result.successfulCalls, 1, `${result.errors}\n${gateway.logs().slice(-3000)}`);

  const families = parsePrometheusTextFormat(await (await fetch('http://127.0.0.1:8080/metrics')).text());
  const toBot = histogram(families, 'patchbay_rtp_to_websocket_seconds');
  const jitter = histogram(families, 'patchbay_jitter_buffer_delay_seconds');
  // uac_pcap plays ~8 s of 20 ms frames: hundreds of observations, not a handful.
  assert.ok(Number(toBot.count) > 300, `rtp_to_websocket count ${toBot.count}`);
  assert.equal(Number(jitter.count), 1, 'one finished call fed the jitter-delay histogram');
  const jitterDelay = Number(jitter.sum);
  const median = medianOf(toBot);
  t.diagnostic(
    `rtp_to_websocket p50 ${(median * 1000).toFixed(1)} ms over ${toBot.count} frames; jitter delay ${(jitterDelay * 1000).toFixed(1)} ms`,
  );
  assert.ok(
    median < jitterDelay + FRAME_SECONDS,
    `rtp_to_websocket p50 ${(median * 1000).toFixed(1)} ms, jitter delay ${(jitterDelay * 1000).toFixed(1)} ms`,
  );
});

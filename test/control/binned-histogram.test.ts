/**
 * BinnedHistogram against prom-client's own Histogram as the reference: the same values, observed
 * one by one there and binned (in a "worker") then added here, must scrape to the same text.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { BinnedHistogram } from '../../src/control/binned-histogram.js';
import { GatewayMetrics } from '../../src/control/metrics.js';
import { BucketCounts, RTP_TO_WEBSOCKET_BOUNDS } from '../../src/util/index.js';

const NAME = 'patchbay_rtp_to_websocket_seconds';
const HELP = 'Time from an RTP packet arriving to its audio being written to the bot socket';
const BOUNDS = RTP_TO_WEBSOCKET_BOUNDS;

/** Every bound exactly, just above and below each, 0, and well above the last bound. */
const EDGE_VALUES = [
  0,
  ...BOUNDS.flatMap((bound) => [bound, bound * (1 - 1e-9), bound * (1 + 1e-9)]),
  0.32000001,
  0.5,
  7,
];

function reference(values: readonly number[]): Registry {
  const registry = new Registry();
  const histogram = new Histogram({ name: NAME, help: HELP, buckets: [...BOUNDS], registers: [registry] });
  for (const value of values) histogram.observe(value);
  return registry;
}

function binned(): { registry: Registry; histogram: BinnedHistogram } {
  const registry = new Registry();
  return {
    registry,
    histogram: new BinnedHistogram({ name: NAME, help: HELP, bounds: BOUNDS, registers: [registry] }),
  };
}

/** One worker report's worth: the values binned, then taken as the report carries them. */
function report(values: readonly number[]) {
  const worker = new BucketCounts(BOUNDS);
  for (const value of values) worker.observe(value);
  return worker.take();
}

test('values binned into one report scrape exactly as prom-client observing them one by one', async () => {
  const { registry, histogram } = binned();
  histogram.add(report(EDGE_VALUES));
  const text = await registry.metrics();
  assert.equal(text, await reference(EDGE_VALUES).metrics());
  assert.match(text, new RegExp(`^${NAME}_bucket\\{le="0.001"\\} 3$`, 'm'), '0, 0.001 and just below it');
  assert.match(text, new RegExp(`^${NAME}_bucket\\{le="\\+Inf"\\} ${EDGE_VALUES.length}$`, 'm'));
  assert.match(text, new RegExp(`^${NAME}_count ${EDGE_VALUES.length}$`, 'm'));
});

test('values observed one by one scrape exactly as prom-client', async () => {
  const { registry, histogram } = binned();
  for (const value of EDGE_VALUES) histogram.observe(value);
  assert.equal(await registry.metrics(), await reference(EDGE_VALUES).metrics());
});

test('several reports and single values add up to the same buckets and count (the sum to rounding)', async () => {
  const values = Array.from({ length: 5000 }, (_, index) => ((index * 7919) % 400) / 1000);
  const { registry, histogram } = binned();
  for (let start = 0; start < 4000; start += 1000) histogram.add(report(values.slice(start, start + 1000)));
  for (const value of values.slice(4000)) histogram.observe(value);
  const [actual, expected] = [await registry.metrics(), await reference(values).metrics()];
  const withoutSum = (text: string) => text.replace(new RegExp(`^${NAME}_sum .*$`, 'm'), '');
  assert.equal(withoutSum(actual), withoutSum(expected));
  const sum = (text: string) => Number(new RegExp(`^${NAME}_sum (.*)$`, 'm').exec(text)?.[1]);
  assert.ok(Math.abs(sum(actual) - sum(expected)) < 1e-9, `${sum(actual)} vs ${sum(expected)}`);
});

test('a report of zero frames changes nothing, and an empty histogram scrapes as prom-client’s', async () => {
  const { registry, histogram } = binned();
  const empty = report([]);
  assert.deepEqual([...empty.counts], new Array(BOUNDS.length + 1).fill(0));
  histogram.add(empty);
  assert.equal(await registry.metrics(), await reference([]).metrics());
  histogram.add(report([0.05]));
  histogram.add(report([]));
  assert.equal(await registry.metrics(), await reference([0.05]).metrics());
});

test('a worker starts over after each report, and counts what no fixed-size value list could hold', () => {
  const worker = new BucketCounts(BOUNDS);
  for (let frame = 0; frame < 100_000; frame++) worker.observe(0.045);
  const first = worker.take();
  assert.equal(first.counts[BOUNDS.indexOf(0.05)], 100_000);
  assert.equal(worker.count, 0);
  assert.equal(worker.sum, 0);
  worker.observe(2);
  assert.equal(worker.take().counts.at(-1), 1, 'above every bound');
  assert.equal(first.counts[BOUNDS.indexOf(0.05)], 100_000, 'a taken report is its own copy');
});

test('a value that is not a finite number is not counted; counts of other bounds are refused', () => {
  const worker = new BucketCounts(BOUNDS);
  for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) worker.observe(value);
  assert.equal(worker.count, 0);
  assert.equal(worker.sum, 0);
  const { histogram } = binned();
  assert.throws(() => histogram.add({ counts: new Float64Array(3), sum: 0 }), RangeError);
  assert.throws(() => new BucketCounts([0.1, 0.1]), RangeError);
});

test('the gateway registers the metric once, with its help text and bounds', async () => {
  const metrics = new GatewayMetrics({ processMetrics: false });
  metrics.rtpToWebSocketLatency.observe(0.03);
  metrics.rtpToWebSocketLatency.add(report([0.03, 0.2]));
  const text = await metrics.registry.getSingleMetricAsString(NAME);
  assert.equal(text, await reference([0.03, 0.03, 0.2]).getSingleMetricAsString(NAME));
  const json = await metrics.registry.getMetricsAsJSON();
  assert.equal(json.filter((metric) => metric.name === NAME).length, 1);
});

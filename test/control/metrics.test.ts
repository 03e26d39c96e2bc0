import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayMetrics } from '../../src/control/metrics.js';

test('patchbay_sip_socket_drops_total follows the kernel count read on each scrape, across a new socket', async () => {
  const readings = [5, 12, 3];
  const metrics = new GatewayMetrics({
    processMetrics: false,
    sipSocketDrops: () => Promise.resolve(readings.shift()),
  });
  const scrape = async (): Promise<string | undefined> =>
    /^patchbay_sip_socket_drops_total (\d+)$/m.exec(await metrics.registry.metrics())?.[1];
  assert.equal(await scrape(), '5');
  assert.equal(await scrape(), '12');
  assert.equal(await scrape(), '15', 'a new socket starts from zero: its 3 drops add up');
});

test('patchbay_sip_large_requests_total follows the endpoint counts by path, across a restart', async () => {
  const counts = [
    { movedToTcp: 0, backToUdp: 0, keptOnUdp: 0 },
    { movedToTcp: 2, backToUdp: 1, keptOnUdp: 0 },
    { movedToTcp: 5, backToUdp: 1, keptOnUdp: 3 },
    { movedToTcp: 1, backToUdp: 0, keptOnUdp: 1 },
  ];
  const metrics = new GatewayMetrics({
    processMetrics: false,
    sipLargeRequests: () => counts.shift() ?? { movedToTcp: 0, backToUdp: 0, keptOnUdp: 0 },
  });
  const scrape = async (): Promise<string> => {
    const text = await metrics.registry.metrics();
    const path = (name: string) =>
      new RegExp(`^patchbay_sip_large_requests_total\\{path="${name}"\\} (\\d+)$`, 'm').exec(text)?.[1];
    return `${path('tcp')}/${path('udp_fallback')}/${path('udp_no_tcp')}`;
  };
  assert.equal(await scrape(), '0/0/0');
  assert.equal(await scrape(), '2/1/0');
  assert.equal(await scrape(), '5/1/3');
  assert.equal(await scrape(), '6/1/4', 'a new endpoint starts from zero: its count adds up');
});

test('RTP socket drops are sampled on each scrape and add up', async () => {
  const samples = [3, 0, 2];
  const metrics = new GatewayMetrics({
    processMetrics: false,
    sampleRtpSocketDrops: () => samples.shift() ?? 0,
  });
  const total = async () => (await metrics.rtpSocketDropsTotal.get()).values[0]?.value;
  assert.equal(await total(), 3);
  assert.equal(await total(), 3);
  assert.equal(await total(), 5);
  assert.match(await metrics.registry.metrics(), /^patchbay_rtp_socket_drops_total 5$/m);
});

test('media-clock ticks are counted by outcome and overruns on their own, growing by what the clock counted since the last scrape', async () => {
  const readings = [
    { ticks: 100, lateTicks: 0, ticksSkipped: 0, overruns: 0 },
    { ticks: 160, lateTicks: 12, ticksSkipped: 0, overruns: 1 },
    { ticks: 260, lateTicks: 62, ticksSkipped: 7, overruns: 3 },
  ];
  let current = readings[0];
  const metrics = new GatewayMetrics({ processMetrics: false, mediaClockStats: () => current! });
  const scrape = async () => {
    const text = await metrics.registry.metrics();
    const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1]);
    return [
      value(/^patchbay_media_clock_ticks_total\{outcome="on_time"\} (\d+)$/m),
      value(/^patchbay_media_clock_ticks_total\{outcome="late"\} (\d+)$/m),
      value(/^patchbay_media_clock_ticks_total\{outcome="skipped"\} (\d+)$/m),
      value(/^patchbay_media_clock_overruns_total (\d+)$/m),
    ];
  };
  assert.deepEqual(await scrape(), [100, 0, 0, 0]);
  current = readings[1];
  assert.deepEqual(await scrape(), [148, 12, 0, 1]);
  current = readings[2];
  assert.deepEqual(await scrape(), [198, 62, 7, 3]);
  assert.deepEqual(await scrape(), [198, 62, 7, 3], 'nothing new: nothing added');
});

test('patchbay_event_loop_lag_seconds is the figure it is given, in seconds: a scrape reads it and changes nothing', async () => {
  let windowP99Ms = 0;
  const metrics = new GatewayMetrics({ processMetrics: false, eventLoopDelayP99Ms: () => windowP99Ms });
  const scrape = async () =>
    Number(/^patchbay_event_loop_lag_seconds (\S+)$/m.exec(await metrics.registry.metrics())?.[1]);
  assert.equal(await scrape(), 0);
  windowP99Ms = 150;
  assert.deepEqual([await scrape(), await scrape()], [0.15, 0.15], 'two scrapers read the same');
  assert.equal(
    new GatewayMetrics({ processMetrics: false }).eventLoopLag,
    undefined,
    'none without a figure',
  );
});

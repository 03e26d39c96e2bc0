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
  metrics.close();
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
  metrics.close();
});

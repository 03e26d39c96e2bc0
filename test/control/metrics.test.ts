import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayMetrics } from '../../src/control/metrics.js';

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

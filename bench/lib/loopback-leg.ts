/**
 * A MediaLeg on loopback sending PCMU to `remotePort`, as the gateway opens one for a G.711 call
 * with an 8 kHz bridge. Shared by the stream benches and test/interop/stream-bridge.test.ts.
 */

import type { MediaClock } from '../../src/media/media-clock.js';
import { MediaLeg } from '../../src/media/media-leg.js';
import type { PortAllocator } from '../../src/media/rtp/index.js';
import type { Clock } from '../../src/util/index.js';

export interface LoopbackLegOptions {
  portAllocator: PortAllocator;
  clock: Clock;
  mediaClock: MediaClock;
  remotePort: number;
  /** RFC 4733 payload type to negotiate, when DTMF is part of the test. */
  telephoneEventPayloadType?: number;
}

export async function openLoopbackPcmuLeg(options: LoopbackLegOptions): Promise<MediaLeg> {
  const leg = await MediaLeg.open({
    portAllocator: options.portAllocator,
    bindAddress: '127.0.0.1',
    clock: options.clock,
    mediaClock: options.mediaClock,
    bridgeRate: 8000,
  });
  await leg.start({
    remoteAddress: '127.0.0.1',
    remotePort: options.remotePort,
    rtcpMux: false,
    codec: { payloadType: 0, name: 'PCMU', clockRate: 8000, channels: 1 },
    ...(options.telephoneEventPayloadType === undefined
      ? {}
      : { telephoneEvent: { payloadType: options.telephoneEventPayloadType, clockRate: 8000 } }),
  });
  return leg;
}

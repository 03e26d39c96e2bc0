import type { AudioDecoder } from '../../src/media/index.js';
import type { ReceivedRtp } from '../../src/media/rtp/index.js';

/** 8 kHz test decoder: each payload decodes to a 200 Hz sine frame; concealment is a quieter sine. */
export function sineDecoder(): AudioDecoder & { concealCalls: number } {
  let phase = 0;
  const next = (samples: number, amplitude: number): Int16Array => {
    const out = new Int16Array(samples);
    for (let i = 0; i < samples; i++)
      out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * 200 * phase++) / 8000));
    return out;
  };
  return {
    name: 'sine',
    sampleRate: 8000,
    rtpClockRate: 8000,
    concealCalls: 0,
    decode: (payload) => next(payload.length, 8000),
    conceal(samples) {
      this.concealCalls++;
      return next(samples, 4000);
    },
    close: () => {},
  };
}

/** 8 kHz test decoder: each payload decodes to loud seeded noise (aperiodic: never a pitch period). */
export function noiseDecoder(seed = 1): AudioDecoder {
  let state = seed;
  const next = (samples: number): Int16Array =>
    Int16Array.from({ length: samples }, () => {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      return (state % 20000) - 10000;
    });
  return {
    name: 'noise',
    sampleRate: 8000,
    rtpClockRate: 8000,
    decode: (payload) => next(payload.length),
    conceal: (samples) => next(samples),
    close: () => {},
  };
}

export function packet(index: number, arrivalMs: number, overrides: Partial<ReceivedRtp> = {}): ReceivedRtp {
  return {
    sequenceNumber: index & 0xffff,
    timestamp: (index * 160) >>> 0,
    ssrc: 1,
    marker: index === 0,
    payloadType: 0,
    payload: new Uint8Array(160),
    arrivalMs,
    ...overrides,
  };
}

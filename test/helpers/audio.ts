/** Signal checks shared by tests: tone power by Goertzel, tone generation, joining frames. */

/** Relative power of `frequency` in `samples` (Goertzel algorithm), normalised by length. */
export function tonePower(samples: ArrayLike<number>, sampleRate: number, frequency: number): number {
  const coefficient = 2 * Math.cos((2 * Math.PI * frequency) / sampleRate);
  let previous = 0;
  let beforePrevious = 0;
  for (let i = 0; i < samples.length; i++) {
    const current = (samples[i] as number) + coefficient * previous - beforePrevious;
    beforePrevious = previous;
    previous = current;
  }
  const power =
    previous * previous + beforePrevious * beforePrevious - coefficient * previous * beforePrevious;
  return power / (samples.length * samples.length);
}

/** The share of the signal's power at `frequency`: about 0.5 for a pure tone, about 1/n for noise. */
export function toneShare(samples: Int16Array, frequency: number, sampleRate = 8000): number {
  let energy = 0;
  for (const sample of samples) energy += sample * sample;
  return energy === 0 ? 0 : tonePower(samples, sampleRate, frequency) / (energy / samples.length);
}

/** The frames end to end, as one buffer. */
export function concatPcm(parts: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function sine(
  frequency: number,
  sampleRate: number,
  samples: number,
  amplitude = 8000,
  phase = 0,
): Int16Array {
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++)
    out[i] = Math.round(amplitude * Math.sin(phase + (2 * Math.PI * frequency * i) / sampleRate));
  return out;
}

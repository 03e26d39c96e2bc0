/**
 * ITU-T G.711 Appendix I packet-loss concealment (the reference "LowcFE" algorithm), on
 * 8 kHz mono PCM. Good audio passes through a history buffer and comes out delayed by
 * 3.75 ms (POVERLAP_MAX), which leaves room to overlap-add the synthetic signal into it.
 * Lost audio is synthesized by repeating the last pitch period found in the history.
 */

const FRAME = 80; // 10 ms: the unit of erasure, attenuation and overlap growth (§I.2)
const PITCH_MIN = 40; // 200 Hz
const PITCH_MAX = 120; // 66.7 Hz
const PITCH_DIFF = PITCH_MAX - PITCH_MIN;
const POVERLAP_MAX = PITCH_MAX >> 2; // 3.75 ms output delay
const HISTORY_LEN = PITCH_MAX * 3 + POVERLAP_MAX;
const DECIMATION = 2; // coarse pitch search step
const CORR_LEN = 160;
const CORR_BUF_LEN = CORR_LEN + PITCH_MAX;
const CORR_MIN_POWER = 250;
const END_OVERLAP_INCREMENT = 32; // longer erasures get longer joins into good audio
const ATTENUATION_PER_FRAME = 0.2; // 20% per 10 ms after the first 10 ms
const ATTENUATION_PER_SAMPLE = ATTENUATION_PER_FRAME / FRAME;
const MUTE_AFTER_FRAMES = 6; // silence after 60 ms
/** The longest buffer the history can delay in one block (#saveWhole). */
const MAX_WHOLE_SAMPLES = HISTORY_LEN - POVERLAP_MAX;

function clampSample(value: number): number {
  return Math.min(32767, Math.max(-32768, value));
}

export class G711Concealer {
  static readonly frameSamples = FRAME;
  static readonly delaySamples = POVERLAP_MAX;
  static readonly historySamples = HISTORY_LEN;
  /** The longest buffer process() delays in one block, and so the longest a coded pass may be. */
  static readonly maxWholeSamples = MAX_WHOLE_SAMPLES;

  readonly #history = new Int16Array(HISTORY_LEN);
  readonly #pitchBuffer = new Float32Array(HISTORY_LEN);
  readonly #lastQuarter = new Float32Array(POVERLAP_MAX);
  /** Scratch for the synthetic signal joined into good audio (at most one 10 ms frame). */
  readonly #synthetic = new Int16Array(FRAME);
  /** The history's delayed samples for a buffer of its length, a view kept for #saveWhole. */
  #delayed = new Int16Array(0);
  /** Consecutive concealed 10 ms frames. */
  #erasedFrames = 0;
  #pitch = 0;
  #pitchOverlap = 0;
  /** Synthetic signal = pitchBuffer[pitchStart .. HISTORY_LEN) repeated; readOffset walks it. */
  #pitchStart = 0;
  #pitchLength = 0;
  #readOffset = 0;

  /**
   * Feeds good audio (any length); writes it to `out` (which may be `samples` itself) delayed
   * by 3.75 ms, with the first samples after a loss cross-faded from the synthetic signal
   * (Appendix I, "addtohistory"). Pass a reused `out` on the hot path: nothing is allocated.
   */
  process(samples: Int16Array, out: Int16Array = new Int16Array(samples.length)): Int16Array {
    if (out.length < samples.length) throw new RangeError('G.711 PLC output buffer too small');
    if (out !== samples) out.set(samples);
    if (this.#erasedFrames === 0 && samples.length === out.length && out.length <= MAX_WHOLE_SAMPLES) {
      this.#saveWhole(out);
      return out;
    }
    for (let start = 0; start < samples.length; start += FRAME) {
      const length = Math.min(samples.length - start, FRAME);
      if (this.#erasedFrames > 0) {
        const overlap = Math.min(
          length,
          this.#pitchOverlap + (this.#erasedFrames - 1) * END_OVERLAP_INCREMENT,
          FRAME,
        );
        this.#readSynthetic(this.#synthetic, 0, overlap);
        this.#overlapAddAtEnd(out, start, overlap);
        this.#erasedFrames = 0;
      }
      this.#saveSpeech(out, start, length);
    }
    return out;
  }

  /**
   * Synthesizes `samples` of lost audio, a multiple of 10 ms (80 samples), into `out` (reuse
   * one on the hot path).
   */
  conceal(samples: number, out: Int16Array = new Int16Array(samples)): Int16Array {
    if (!Number.isInteger(samples) || samples < 0 || samples % FRAME !== 0)
      throw new RangeError(`G.711 PLC conceals whole 10 ms frames, got ${samples} samples`);
    if (out.length < samples) throw new RangeError('G.711 PLC output buffer too small');
    for (let start = 0; start < samples; start += FRAME) {
      this.#concealFrame(out, start);
      this.#saveSpeech(out, start, FRAME);
    }
    return out;
  }

  /** A loss is being concealed: the next good audio is cross-faded in, not just delayed. */
  get joining(): boolean {
    return this.#erasedFrames > 0;
  }

  /** Copies the history (historySamples, oldest first) into `out`. */
  readHistory(out: Int16Array): void {
    out.set(this.#history);
  }

  /**
   * Appends good audio (at most historySamples) to the history with no output and no join:
   * what process() would have left there for audio that went past it (G711Decoder's `bytes.pass`).
   */
  appendHistory(samples: Int16Array): void {
    const history = this.#history;
    history.copyWithin(0, samples.length);
    history.set(samples, HISTORY_LEN - samples.length);
  }

  reset(): void {
    this.#history.fill(0);
    this.#erasedFrames = 0;
  }

  #concealFrame(out: Int16Array, at: number): void {
    if (this.#erasedFrames === 0) {
      this.#startConcealment();
      this.#readSynthetic(out, at, FRAME);
    } else if (this.#erasedFrames <= 2) {
      // Widen the repeated segment by one period at 10 and 20 ms: a single period repeated
      // for long sounds buzzy (Appendix I, I.2.3).
      const tail = this.#synthetic;
      const savedOffset = this.#readOffset;
      this.#readSynthetic(tail, 0, this.#pitchOverlap);
      this.#readOffset = savedOffset;
      while (this.#readOffset > this.#pitch) this.#readOffset -= this.#pitch;
      this.#pitchLength += this.#pitch;
      this.#pitchStart = HISTORY_LEN - this.#pitchLength;
      this.#overlapAddIntoPitchBuffer();
      this.#readSynthetic(out, at, FRAME);
      const step = 1 / this.#pitchOverlap;
      for (let i = 0; i < this.#pitchOverlap; i++) {
        const rightWeight = (i + 1) * step;
        out[at + i] = clampSample((1 - rightWeight) * tail[i]! + rightWeight * out[at + i]!);
      }
      this.#attenuate(out, at);
    } else if (this.#erasedFrames >= MUTE_AFTER_FRAMES) {
      out.fill(0, at, at + FRAME);
    } else {
      this.#readSynthetic(out, at, FRAME);
      this.#attenuate(out, at);
    }
    this.#erasedFrames++;
  }

  #startConcealment(): void {
    for (let i = 0; i < HISTORY_LEN; i++) this.#pitchBuffer[i] = this.#history[i]!;
    this.#pitch = this.#findPitch();
    this.#pitchOverlap = this.#pitch >> 2; // overlap a quarter wavelength
    for (let i = 0; i < this.#pitchOverlap; i++)
      this.#lastQuarter[i] = this.#pitchBuffer[HISTORY_LEN - this.#pitchOverlap + i]!;
    this.#readOffset = 0;
    this.#pitchLength = this.#pitch;
    this.#pitchStart = HISTORY_LEN - this.#pitchLength;
    this.#overlapAddIntoPitchBuffer();
    // The history's last quarter wave is now the smoothed one the synthesis will follow.
    for (let i = HISTORY_LEN - this.#pitchOverlap; i < HISTORY_LEN; i++)
      this.#history[i] = this.#pitchBuffer[i]!;
  }

  /** Smooths the period boundary: blends the original last quarter wave into the one before the period. */
  #overlapAddIntoPitchBuffer(): void {
    const count = this.#pitchOverlap;
    const step = 1 / count;
    const source = this.#pitchStart - count;
    const target = HISTORY_LEN - count;
    for (let i = 0; i < count; i++) {
      const rightWeight = (i + 1) * step;
      this.#pitchBuffer[target + i] = clampSample(
        (1 - rightWeight) * this.#lastQuarter[i]! + rightWeight * this.#pitchBuffer[source + i]!,
      );
    }
  }

  #readSynthetic(out: Int16Array, offset: number, count: number): void {
    let written = 0;
    while (written < count) {
      const run = Math.min(this.#pitchLength - this.#readOffset, count - written);
      const from = this.#pitchStart + this.#readOffset;
      for (let i = 0; i < run; i++) out[offset + written + i] = Math.trunc(this.#pitchBuffer[from + i]!);
      this.#readOffset += run;
      if (this.#readOffset === this.#pitchLength) this.#readOffset = 0;
      written += run;
    }
  }

  /** Linear fade over the 10 ms frame at `at`: gain falls 20% per 10 ms, from the second lost frame. */
  #attenuate(out: Int16Array, at: number): void {
    let gain = 1 - (this.#erasedFrames - 1) * ATTENUATION_PER_FRAME;
    for (let i = at; i < at + FRAME; i++) {
      out[i] = Math.trunc(out[i]! * Math.max(0, gain));
      gain -= ATTENUATION_PER_SAMPLE;
    }
  }

  /** Cross-fades from the (attenuated) synthetic signal into the first good audio at `at`. */
  #overlapAddAtEnd(good: Int16Array, at: number, count: number): void {
    const synthetic = this.#synthetic;
    const step = 1 / count;
    const gain = Math.max(0, 1 - (this.#erasedFrames - 1) * ATTENUATION_PER_FRAME);
    for (let i = 0; i < count; i++) {
      const rightWeight = (i + 1) * step;
      const leftWeight = (1 - rightWeight) * gain;
      good[at + i] = clampSample(Math.trunc(leftWeight * synthetic[i]! + rightWeight * good[at + i]!));
    }
  }

  /**
   * Shifts `samples[at .. at+length)` into the history and replaces them with the history's
   * delayed samples.
   */
  #saveSpeech(samples: Int16Array, at: number, length: number): void {
    const history = this.#history;
    history.copyWithin(0, length);
    for (let i = 0; i < length; i++) history[HISTORY_LEN - length + i] = samples[at + i]!;
    const delayed = HISTORY_LEN - length - POVERLAP_MAX;
    for (let i = 0; i < length; i++) samples[at + i] = history[delayed + i]!;
  }

  /**
   * #saveSpeech over a whole buffer with no loss to join: the history works as a delay line
   * whatever the chunking, so one shift and two block copies (memcpy, not per-sample loops)
   * give the same samples as 10 ms at a time.
   */
  #saveWhole(samples: Int16Array): void {
    const length = samples.length;
    const history = this.#history;
    history.copyWithin(0, length);
    history.set(samples, HISTORY_LEN - length);
    if (this.#delayed.length !== length)
      this.#delayed = history.subarray(HISTORY_LEN - length - POVERLAP_MAX, HISTORY_LEN - POVERLAP_MAX);
    samples.set(this.#delayed);
  }

  /**
   * Pitch period by normalized cross-correlation of the last 20 ms against the history,
   * coarse on every other lag, then refined around the best (Appendix I, I.2.2).
   */
  #findPitch(): number {
    const buffer = this.#pitchBuffer;
    const target = HISTORY_LEN - CORR_LEN;
    const searchStart = HISTORY_LEN - CORR_BUF_LEN;
    const correlation = (lag: number, step: number): number => {
      let energy = 0;
      let corr = 0;
      for (let i = 0; i < CORR_LEN; i += step) {
        const r = buffer[searchStart + lag + i]!;
        energy += r * r;
        corr += r * buffer[target + i]!;
      }
      return corr / Math.sqrt(Math.max(energy, CORR_MIN_POWER));
    };
    let bestLag = 0;
    let best = correlation(0, DECIMATION);
    for (let lag = DECIMATION; lag <= PITCH_DIFF; lag += DECIMATION) {
      const c = correlation(lag, DECIMATION);
      if (c >= best) {
        best = c;
        bestLag = lag;
      }
    }
    const from = Math.max(0, bestLag - (DECIMATION - 1));
    const to = Math.min(PITCH_DIFF, bestLag + (DECIMATION - 1));
    bestLag = from;
    best = correlation(from, 1);
    for (let lag = from + 1; lag <= to; lag++) {
      const c = correlation(lag, 1);
      if (c > best) {
        best = c;
        bestLag = lag;
      }
    }
    return PITCH_MAX - bestLag;
  }
}

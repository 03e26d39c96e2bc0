/**
 * Seeded network impairment model for replay and evaluation: Gilbert-Elliott bursty
 * loss, Pareto or Gaussian jitter, reordering, duplication and sender clock drift.
 * Pure: the same input and seed always give the same arrivals.
 */
import { SeededRandom } from '../util/index.js';

export interface ImpairOptions {
  /** Long-run loss percentage (0–100). */
  lossPercent?: number;
  /** Mean loss burst length in packets (≥ 1; 1 is independent loss). */
  meanBurstLength?: number;
  /** Mean extra one-way delay (ms) added as jitter. */
  jitterMs?: number;
  jitterDistribution?: 'pareto' | 'gaussian';
  /** Percentage of packets held back by reorderDelayMs (so later ones overtake them). */
  reorderPercent?: number;
  reorderDelayMs?: number;
  /** Percentage of packets delivered twice. */
  duplicatePercent?: number;
  /** Sender clock drift in parts per million (positive: the sender runs fast). */
  driftPpm?: number;
  /** Fixed one-way delay (ms) before jitter. */
  baseDelayMs?: number;
  seed?: number;
}

interface SentPacket<P> {
  packet: P;
  sendMs: number;
}

interface ArrivedPacket<P> {
  packet: P;
  arrivalMs: number;
}

/** Pareto tail index: heavy-tailed but with a finite variance. */
const PARETO_SHAPE = 3;

/**
 * Gilbert-Elliott loss with a lossless good state and a lossy bad state: leaving bad
 * with probability 1/burst gives the mean burst length; entering it with
 * p·r/(1−p) gives the long-run loss rate p.
 */
class BurstLoss {
  #bad = false;
  readonly #enterBad: number;
  readonly #leaveBad: number;
  readonly #random: SeededRandom;

  constructor(lossFraction: number, meanBurst: number, random: SeededRandom) {
    this.#random = random;
    this.#leaveBad = 1 / Math.max(1, meanBurst);
    this.#enterBad = lossFraction >= 1 ? 1 : (lossFraction * this.#leaveBad) / (1 - lossFraction);
  }

  lost(): boolean {
    this.#bad = this.#bad ? !this.#random.chance(this.#leaveBad) : this.#random.chance(this.#enterBad);
    return this.#bad;
  }
}

function jitterSample(random: SeededRandom, meanMs: number, distribution: 'pareto' | 'gaussian'): number {
  if (meanMs <= 0) return 0;
  if (distribution === 'gaussian') return Math.max(0, random.gaussian(meanMs, meanMs / 2));
  // Shifted Pareto starting at 0 with mean scale/(shape−1).
  const scale = meanMs * (PARETO_SHAPE - 1);
  return random.pareto(scale, PARETO_SHAPE) - scale;
}

/**
 * The model one packet at a time, for streaming use (pcap replay): each sent packet yields
 * zero (lost), one, or two (duplicated) arrivals. Drift is measured from the first packet.
 */
export class Impairer {
  readonly #random: SeededRandom;
  readonly #loss: BurstLoss;
  readonly #options: ImpairOptions;
  readonly #driftFactor: number;
  #firstSendMs: number | undefined;

  constructor(options: ImpairOptions = {}) {
    this.#options = options;
    this.#random = new SeededRandom(options.seed ?? 1);
    this.#loss = new BurstLoss((options.lossPercent ?? 0) / 100, options.meanBurstLength ?? 1, this.#random);
    this.#driftFactor = 1 + (options.driftPpm ?? 0) / 1e6;
  }

  apply<P>(packet: P, sendMs: number): ArrivedPacket<P>[] {
    const options = this.#options;
    const random = this.#random;
    const distribution = options.jitterDistribution ?? 'pareto';
    const jitterMs = options.jitterMs ?? 0;
    this.#firstSendMs ??= sendMs;
    if (this.#loss.lost()) return [];
    // A fast sender clock (positive ppm) means its media reaches us compressed in our time.
    const sentSinceFirst = (sendMs - this.#firstSendMs) / this.#driftFactor;
    let arrivalMs =
      this.#firstSendMs +
      sentSinceFirst +
      (options.baseDelayMs ?? 0) +
      jitterSample(random, jitterMs, distribution);
    if (random.chance((options.reorderPercent ?? 0) / 100)) arrivalMs += options.reorderDelayMs ?? 40;
    const arrivals = [{ packet, arrivalMs }];
    if (random.chance((options.duplicatePercent ?? 0) / 100)) {
      arrivals.push({ packet, arrivalMs: arrivalMs + 1 + jitterSample(random, jitterMs, distribution) });
    }
    return arrivals;
  }
}

/** Applies the impairments to a send schedule and returns arrivals sorted by time. */
export function impair<P>(sent: readonly SentPacket<P>[], options: ImpairOptions = {}): ArrivedPacket<P>[] {
  const impairer = new Impairer(options);
  return sent
    .flatMap(({ packet, sendMs }) => impairer.apply(packet, sendMs))
    .sort((a, b) => a.arrivalMs - b.arrivalMs);
}

interface SpecKey {
  option: keyof ImpairOptions;
  min: number;
  max: number;
  integer?: boolean;
}

const SPEC_KEYS: Record<string, SpecKey> = {
  loss: { option: 'lossPercent', min: 0, max: 100 },
  burst: { option: 'meanBurstLength', min: 1, max: 1000 },
  jitter: { option: 'jitterMs', min: 0, max: 10_000 },
  reorder: { option: 'reorderPercent', min: 0, max: 100 },
  dup: { option: 'duplicatePercent', min: 0, max: 100 },
  drift: { option: 'driftPpm', min: -10_000, max: 10_000 },
  delay: { option: 'baseDelayMs', min: 0, max: 60_000 },
  seed: { option: 'seed', min: 0, max: 0xffffffff, integer: true },
};

/**
 * Parses `loss=5,burst=2,jitter=40,reorder=1,dup=1,drift=100,seed=7[,dist=gaussian]`
 * into ImpairOptions; throws an Error naming the offending item.
 */
export function parseImpairSpec(spec: string): ImpairOptions {
  const options: ImpairOptions = {};
  const seen = new Set<string>();
  for (const item of spec.split(',').map((s) => s.trim())) {
    if (item === '') continue;
    const [key = '', value, ...rest] = item.split('=');
    if (value === undefined || rest.length > 0 || value === '') {
      throw new Error(`impairment "${item}": expected key=value`);
    }
    if (seen.has(key)) throw new Error(`impairment "${key}" given twice`);
    seen.add(key);
    if (key === 'dist') {
      if (value !== 'pareto' && value !== 'gaussian') {
        throw new Error(`impairment dist="${value}": expected pareto or gaussian`);
      }
      options.jitterDistribution = value;
      continue;
    }
    // Own keys only: `constructor` or `toString` would find Object.prototype's.
    const rule = Object.hasOwn(SPEC_KEYS, key) ? SPEC_KEYS[key] : undefined;
    if (!rule) {
      throw new Error(
        `unknown impairment "${key}" (known: ${[...Object.keys(SPEC_KEYS), 'dist'].join(', ')})`,
      );
    }
    const number = Number(value);
    if (!Number.isFinite(number)) throw new Error(`impairment ${key}="${value}" is not a number`);
    if (number < rule.min || number > rule.max) {
      throw new Error(`impairment ${key}=${value} is out of range [${rule.min}, ${rule.max}]`);
    }
    if (rule.integer && !Number.isInteger(number))
      throw new Error(`impairment ${key}=${value} must be an integer`);
    (options as Record<string, number>)[rule.option] = number;
  }
  if (options.lossPercent === 100 && options.meanBurstLength !== undefined) {
    throw new Error('impairment loss=100 leaves no bursts to shape; drop burst');
  }
  return options;
}

/**
 * MOS estimate from RTCP figures with a simplified ITU-T G.107 E-model (Cole & Rosenbluth 2001):
 *
 *   R = 93.2 − Id − Ie,eff
 *   d     = one-way delay ms = RTT/2 + 2·jitter (jitter buffer) + codecDelayMs
 *   Id    = 0.024·d + 0.11·(d − 177.3)·H(d − 177.3)          (H = step function)
 *   Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl / BurstR + Bpl)      (G.107 §7.5, Ppl in %)
 *   MOS   = 1 + 0.035·R + R·(R − 60)·(100 − R)·7·10⁻⁶         (G.107 Annex B, clamped 1..4.5)
 *
 * Defaults are G.711 with packet-loss concealment: Ie = 0, Bpl = 25.1 (ITU-T G.113 Appendix I),
 * BurstR = 1 (random loss), codec delay 10 ms (framing + look-ahead of a 20 ms packetiser's share).
 */
interface EModelInput {
  /** Fraction of packets lost, 0..1. */
  lossFraction: number;
  jitterMs: number;
  rttMs: number;
}

interface CodecImpairment {
  ie: number;
  bpl: number;
  burstR: number;
  codecDelayMs: number;
}

const G711_PLC: CodecImpairment = { ie: 0, bpl: 25.1, burstR: 1, codecDelayMs: 10 };

export function rFactor(input: EModelInput, codec: CodecImpairment = G711_PLC): number {
  const delayMs = Math.max(0, input.rttMs) / 2 + 2 * Math.max(0, input.jitterMs) + codec.codecDelayMs;
  const id = 0.024 * delayMs + (delayMs > 177.3 ? 0.11 * (delayMs - 177.3) : 0);
  const ppl = Math.min(100, Math.max(0, input.lossFraction * 100));
  const ieEff = codec.ie + ((95 - codec.ie) * ppl) / (ppl / codec.burstR + codec.bpl);
  return 93.2 - id - ieEff;
}

function mosFromR(r: number): number {
  if (r <= 0) return 1;
  if (r >= 100) return 4.5;
  return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6;
}

export function estimateMos(input: EModelInput, codec: CodecImpairment = G711_PLC): number {
  return mosFromR(rFactor(input, codec));
}

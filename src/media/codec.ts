/**
 * The codec contract shared by the jitter buffer's receiver, the replay tool and the
 * gateway. Decoders output mono 16-bit PCM at `sampleRate`; RTP timestamps advance at
 * `rtpClockRate` (48000 for Opus whatever the decode rate, RFC 7587 §4.1).
 *
 * What decode, conceal, recoverFromNext and encode return may be a buffer the codec reuses
 * (G.711 does, so a frame allocates nothing): read it before the next call of the same
 * method, and copy what must be kept.
 */
export interface AudioDecoder {
  readonly name: string;
  readonly sampleRate: number;
  readonly rtpClockRate: number;
  /** Decodes one RTP payload into PCM. */
  decode(payload: Uint8Array): Int16Array;
  /** Conceals one lost frame of `samples` samples (packet-loss concealment). */
  conceal(samples: number): Int16Array;
  /**
   * Recovers the frame lost just before `nextPayload` from that packet's in-band FEC
   * (Opus LBRR, RFC 6716 §2.1.7), or returns null when the packet carries none.
   */
  recoverFromNext?(nextPayload: Uint8Array, samples: number): Int16Array | null;
  /** A codec of one byte per sample (G.711): frames that play as they came need no decoding. */
  readonly bytes?: SampleBytes;
  close(): void;
}

/** A decoder's one-byte-per-sample form (AudioReceiver.pullPassing). */
export interface SampleBytes {
  /**
   * What decode() would return for `payload`, as bytes, with the decoder's state left as if
   * decode() had run; valid until the next pass. Undefined when this one must be decoded.
   */
  pass(payload: Uint8Array): Uint8Array | undefined;
  /** `count` samples of `pcm` into bytes at `out[at]`. */
  encode(pcm: Int16Array, count: number, out: Uint8Array, at: number): void;
  /** `count` bytes from `bytes[from]` into samples at the start of `out`. */
  decode(bytes: Uint8Array, from: number, count: number, out: Int16Array): void;
}

export interface AudioEncoder {
  readonly name: string;
  readonly sampleRate: number;
  readonly rtpClockRate: number;
  /** Encodes one frame of mono 16-bit PCM into one RTP payload. */
  encode(pcm: Int16Array): Uint8Array;
  /** Tells the encoder the loss rate the far end reports (RTCP), to size in-band FEC. */
  setPacketLossPercent?(percent: number): void;
  close(): void;
}

/**
 * WAV (RIFF WAVE) read/write for 16-bit PCM, mono or stereo, little-endian as RIFF
 * requires. Reading skips unknown chunks (LIST, fact...) and rejects other encodings.
 */

export interface WavAudio {
  sampleRate: number;
  channels: 1 | 2;
  /** Interleaved 16-bit samples (L, R, L, R... for stereo). */
  samples: Int16Array;
}

const RIFF_HEADER_BYTES = 12;
export const WAV_HEADER_BYTES = 44;
const FMT_CHUNK_BYTES = 16;
const WAVE_FORMAT_PCM = 1;
/** WAVE_FORMAT_EXTENSIBLE: the real format is in its sub-format GUID's first two bytes. */
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** The 44-byte header of a canonical PCM WAV holding `dataBytes` of samples. */
export function wavHeader(sampleRate: number, channels: 1 | 2, dataBytes: number): Uint8Array {
  const header = new Uint8Array(WAV_HEADER_BYTES);
  const view = new DataView(header.buffer);
  const ascii = (at: number, text: string) => {
    for (let i = 0; i < text.length; i++) header[at + i] = text.charCodeAt(i);
  };
  ascii(0, 'RIFF');
  view.setUint32(4, WAV_HEADER_BYTES - 8 + dataBytes, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, FMT_CHUNK_BYTES, true);
  view.setUint16(20, WAVE_FORMAT_PCM, true);
  view.setUint16(22, channels, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * channels * 2, true);
  view.setUint16(32, channels * 2, true);
  view.setUint16(34, 16, true);
  ascii(36, 'data');
  view.setUint32(40, dataBytes, true);
  return header;
}

/** Little-endian bytes of 16-bit samples, as a WAV data chunk holds them. */
export function pcmBytes(samples: Int16Array): Uint8Array {
  const out = new Uint8Array(samples.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < samples.length; i++) view.setInt16(i * 2, samples[i] as number, true);
  return out;
}

export function encodeWav(audio: WavAudio): Uint8Array {
  const { sampleRate, channels, samples } = audio;
  if (samples.length % channels !== 0)
    throw new RangeError(`sample count ${samples.length} is not a multiple of ${channels} channels`);
  const out = new Uint8Array(WAV_HEADER_BYTES + samples.length * 2);
  out.set(wavHeader(sampleRate, channels, samples.length * 2));
  out.set(pcmBytes(samples), WAV_HEADER_BYTES);
  return out;
}

/** Parses a 16-bit PCM WAV; throws TypeError naming what is wrong. */
export function decodeWav(bytes: Uint8Array): WavAudio {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.length < RIFF_HEADER_BYTES || tag(0) !== 'RIFF' || tag(8) !== 'WAVE')
    throw new TypeError('not a RIFF WAVE file');
  let format: { channels: number; sampleRate: number; bits: number; code: number } | undefined;
  let position = RIFF_HEADER_BYTES;
  while (position + 8 <= bytes.length) {
    const id = tag(position);
    const size = view.getUint32(position + 4, true);
    const body = position + 8;
    if (id === 'fmt ') {
      if (size < FMT_CHUNK_BYTES || body + size > bytes.length) throw new TypeError('truncated fmt chunk');
      let code = view.getUint16(body, true);
      if (code === WAVE_FORMAT_EXTENSIBLE && size >= 40) code = view.getUint16(body + 24, true);
      format = {
        code,
        channels: view.getUint16(body + 2, true),
        sampleRate: view.getUint32(body + 4, true),
        bits: view.getUint16(body + 14, true),
      };
    } else if (id === 'data') {
      if (!format) throw new TypeError('data chunk before fmt chunk');
      if (format.code !== WAVE_FORMAT_PCM || format.bits !== 16)
        throw new TypeError(`unsupported WAV encoding ${format.code} with ${format.bits} bits`);
      if (format.channels !== 1 && format.channels !== 2)
        throw new TypeError(`unsupported channel count ${format.channels}`);
      // A streaming writer may leave the size unset (0 or 0xffffffff): take what is there.
      const end = Math.min(bytes.length, size === 0 ? bytes.length : body + size);
      const samples = new Int16Array(Math.floor((end - body) / 2));
      for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(body + i * 2, true);
      return { sampleRate: format.sampleRate, channels: format.channels, samples };
    }
    position = body + size + (size & 1); // Chunks are word-aligned (RIFF pad byte).
  }
  throw new TypeError('no data chunk');
}

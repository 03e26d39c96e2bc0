/**
 * Audio payload formats as SDP describes them: the codecs we offer with their static or usual
 * payload types, rtpmap and fmtp reading, and the opus (RFC 7587) and telephone-event
 * (RFC 4733) parameters.
 */
import type * as sdpTransform from 'sdp-transform';
import type { AudioCodecName } from '../util/index.js';

type ParsedMedia = sdpTransform.SessionDescription['media'][number];

/** RFC 7587 §6.1 receiver parameters. */
export interface OpusParams {
  useInbandFec: boolean;
  maxAverageBitrate?: number;
  stereo: boolean;
}

interface CodecInfo {
  payloadType: number;
  clockRate: number;
  channels: number;
}

export const CODECS: Record<AudioCodecName, CodecInfo> = {
  PCMU: { payloadType: 0, clockRate: 8000, channels: 1 },
  PCMA: { payloadType: 8, clockRate: 8000, channels: 1 },
  // RFC 7587 §7: opus is always signalled as opus/48000/2 whatever is actually sent.
  opus: { payloadType: 111, clockRate: 48000, channels: 2 },
};
export const TELEPHONE_EVENT_PT = { 8000: 101, 48000: 110 } as const;
export const DTMF_EVENTS = '0-16';
const OPUS_MINPTIME = 'minptime=10';

export function pickTelephoneEvent(
  media: ParsedMedia,
  payloads: number[],
  clockRate: number,
): { payloadType: number; clockRate: number } | undefined {
  const find = (rate: number) =>
    payloads.find((pt) => {
      const map = rtpmapOf(media, pt);
      return map?.codec.toLowerCase() === 'telephone-event' && map.rate === rate;
    });
  // RFC 4733 §2.1 wants the audio clock; many opus peers only offer 8 kHz events, so fall back to that.
  const rates = clockRate === 8000 ? [8000] : [clockRate, 8000];
  for (const rate of rates) {
    const payloadType = find(rate);
    if (payloadType !== undefined) return { payloadType, clockRate: rate };
  }
  return undefined;
}

export function payloadList(media: ParsedMedia): number[] {
  return String(media.payloads ?? '')
    .split(/\s+/)
    .filter((token) => token !== '')
    .map((token) => (/^\d+$/.test(token) ? Number(token) : Number.NaN));
}

/** The rtpmap for a payload type; RFC 3551 static types 0 and 8 need none. */
export function rtpmapOf(media: ParsedMedia, pt: number): { codec: string; rate?: number } | undefined {
  const entry = media.rtp.find((r) => r.payload === pt);
  if (entry) return entry;
  if (pt === 0) return { codec: 'PCMU', rate: 8000 };
  if (pt === 8) return { codec: 'PCMA', rate: 8000 };
  return undefined;
}

export function matches(name: AudioCodecName, map: { codec: string; rate?: number } | undefined): boolean {
  return (
    map !== undefined && map.codec.toLowerCase() === name.toLowerCase() && map.rate === CODECS[name].clockRate
  );
}

export function parseFmtp(config: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const part of config.split(';')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (key !== '') params.set(key, eq < 0 ? '' : part.slice(eq + 1).trim());
  }
  return params;
}

export function opusFmtp(opus: { useInbandFec: boolean; maxAverageBitrate?: number } | undefined): string {
  const params = [OPUS_MINPTIME];
  if (opus?.useInbandFec ?? true) params.push('useinbandfec=1');
  if (opus?.maxAverageBitrate !== undefined) params.push(`maxaveragebitrate=${opus.maxAverageBitrate}`);
  return params.join(';');
}

/** RFC 7587 §6.1 receiver parameters. */
export function opusParams(fmtp: ReadonlyMap<string, string>): OpusParams {
  const bitrate = positive(Number(fmtp.get('maxaveragebitrate')));
  return {
    useInbandFec: fmtp.get('useinbandfec') === '1',
    ...(bitrate === undefined ? {} : { maxAverageBitrate: bitrate }),
    stereo: fmtp.get('stereo') === '1',
  };
}

export function channelsField(channels: number): { encoding?: number } {
  return channels > 1 ? { encoding: channels } : {};
}

export function positive(value: number | undefined): number | undefined {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : undefined;
}

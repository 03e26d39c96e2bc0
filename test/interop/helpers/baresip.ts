/**
 * A baresip user agent for interop tests: its own config directory (loopback only, a tone file
 * as the microphone, no sound card), calling out (`dial`) or answering every call (`answer`),
 * optionally over TLS: baresip listens for TLS on its SIP port + 1, trusts `caFile` and
 * presents `certificatePem` (certificate and key in one PEM, as libre reads it) to accept TLS,
 * and as its client certificate when a server asks for one. With `mediaenc` (`srtp-mand`...)
 * its media is SRTP; with `dumpDecoded` the audio it decodes is written under dir/dump, for
 * `decodedAudio` once the call has ended (the file is complete when baresip closes it).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { decodeWav, type WavAudio } from '../../../src/media/wav.js';
import { freePort } from './sipp.js';

export interface BaresipOptions {
  /** A directory of its own for the config and the tone file. */
  dir: string;
  sipPort: number;
  /** RTP ports rtpBase..rtpBase+10. */
  rtpBase: number;
  /** Frequency of the tone baresip sends (Hz). */
  toneHz: number;
  /** Codec modules; default g711 (PCMU, PCMA). */
  codecs?: string[];
  extraConfig?: string[];
  /** Quit after this many seconds (a call in progress is hung up with BYE). */
  seconds: number;
  /** Call this URI at start. */
  dial?: string;
  /** Answer incoming calls at once. */
  answer?: boolean;
  /** The account's user part (baresip answers requests for it only); default `a`. */
  user?: string;
  tls?: { caFile: string; certificatePem?: string };
  /** The account's media encryption, e.g. `srtp-mand` (RFC 4568 SDES, RTP/SAVP only). */
  mediaenc?: string;
  /** Write the audio it decodes to dir/dump (the sndfile module). */
  dumpDecoded?: boolean;
}

export interface Baresip {
  child: ChildProcess;
  /** Its TLS port (SIP port + 1). */
  tlsPort: number;
  output(): string;
  exited: Promise<number | null>;
}

export function startBaresip(options: BaresipOptions): Baresip {
  const { dir, sipPort, rtpBase } = options;
  const tone = join(dir, 'tone.wav');
  const toneSeconds = String(options.seconds + 2);
  spawnSync('sox', [
    '-n',
    '-r',
    '48000',
    '-c',
    '1',
    '-b',
    '16',
    tone,
    'synth',
    toneSeconds,
    'sine',
    String(options.toneHz),
    'vol',
    '0.3',
  ]);
  const config = join(dir, 'baresip');
  mkdirSync(config, { recursive: true });
  const certificate = options.tls?.certificatePem;
  const dump = join(dir, 'dump');
  if (options.dumpDecoded) mkdirSync(dump, { recursive: true });
  if (certificate) writeFileSync(join(config, 'cert.pem'), certificate);
  writeFileSync(
    join(config, 'config'),
    [
      'poll_method epoll',
      `sip_listen 127.0.0.1:${sipPort}`,
      ...(options.tls ? [`sip_cafile ${options.tls.caFile}`] : []),
      ...(certificate ? [`sip_certificate ${join(config, 'cert.pem')}`] : []),
      'net_interface 127.0.0.1',
      'audio_player ausine,nil',
      `audio_source aufile,${tone}`,
      'audio_alert ausine,nil',
      `rtp_ports ${rtpBase}-${rtpBase + 10}`,
      'module_path /usr/lib/baresip/modules',
      // mediaenc modules register before account.so reads `mediaenc=` from the accounts file.
      ...(options.mediaenc ? ['module srtp.so'] : []),
      'module account.so',
      'module menu.so',
      ...(options.codecs ?? ['g711']).map((codec) => `module ${codec}.so`),
      'module aufile.so',
      'module ausine.so',
      ...(options.dumpDecoded ? ['module sndfile.so', `snd_path ${dump}`] : []),
      'ausrc_srate 48000',
      'auplay_srate 48000',
      'ausrc_channels 1',
      'auplay_channels 1',
      ...(options.extraConfig ?? []),
      '',
    ].join('\n'),
  );
  const transport = options.tls ? ';transport=tls' : '';
  const answer = options.answer ? ';answermode=auto' : '';
  const mediaenc = options.mediaenc ? `;mediaenc=${options.mediaenc}` : '';
  const user = options.user ?? 'a';
  writeFileSync(
    join(config, 'accounts'),
    `<sip:${user}@127.0.0.1:${sipPort}${transport}>${answer}${mediaenc};regint=0\n`,
  );
  const args = [
    '-f',
    config,
    '-t',
    String(options.seconds),
    ...(options.dial ? ['-e', `/dial ${options.dial}`] : []),
  ];
  const child = spawn('baresip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-100_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, tlsPort: sipPort + 1, output: () => output, exited };
}

/** What a baresip started with `dumpDecoded` in `dir` decoded (its sndfile `-dec.wav`). */
export function decodedAudio(dir: string): WavAudio | undefined {
  const file = readdirSync(join(dir, 'dump')).find((name) => name.endsWith('-dec.wav'));
  return file === undefined ? undefined : decodeWav(readFileSync(join(dir, 'dump', file)));
}

/** A SIP port (UDP and TCP) whose TLS port above it, where baresip listens too, is free as well. */
export async function freeSipPorts(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await freePort();
    const tlsFree = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port + 1, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (tlsFree) return port;
  }
  throw new Error('no free SIP and TLS port pair');
}

/** `patchbay replay`: command-line front end of replayCapture. */
import { parseArgs } from 'node:util';
import { loadMediaPipeline } from './pipeline.js';
import { type ReplayOptions, type ReplayReport, replayCapture } from './replay.js';

const USAGE = `Usage: patchbay replay <capture.pcap|pcapng> [options]

Runs each RTP stream of a capture through the receive pipeline (jitter buffer, decoder,
PLC/FEC, RFC 4733 DTMF) on virtual time taken from the capture, and writes per stream
<out>/<ssrc>.wav, plus <out>/report.json and <out>/plot.html.

Options:
  --out <dir>          output directory (default: ./replay-out)
  --ssrc <ssrc>        replay only this SSRC (hex 0x... or decimal; repeatable)
  --port <port>        replay only streams to or from this UDP port (repeatable)
  --codec <name>       codec for dynamic payload types no SDP describes (opus, PCMU, PCMA)
  --event-pt <pt>      telephone-event payload type when no SDP names it (default 101)
  --impair <spec>      impair before the jitter buffer, e.g.
                       loss=5,burst=2,jitter=40,reorder=1,dup=1,drift=100,seed=7
  --progress           progress on stderr even when it is not a terminal
  -h, --help           this text

Examples:
  patchbay replay /usr/share/sip-tester/g711a.pcap --out /tmp/g711a
  patchbay replay call.pcapng --port 4000 --codec opus --impair loss=10,seed=1
  patchbay replay dtmf.pcap --event-pt 96
`;

function parseSsrc(text: string): number {
  const hex = text.startsWith('0x') && /^0x[0-9a-f]+$/i.test(text);
  const value = hex ? Number.parseInt(text.slice(2), 16) : text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`bad --ssrc ${text}`);
  return value;
}

function parsePort(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new RangeError(`bad --port ${text}`);
  return value;
}

/** An RTP payload type: 7 bits (RFC 3550 §5.1). */
function parsePayloadType(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isInteger(value) || value < 0 || value > 127)
    throw new RangeError(`bad --event-pt ${text}: a payload type, 0-127`);
  return value;
}

function summary(report: ReplayReport): string {
  const lines = [
    `${report.input}: ${report.format}, ${report.frames} frames, ${report.streams.length} RTP streams`,
  ];
  if (report.truncated || report.readError)
    lines.push(`  capture problem: ${report.readError ?? 'truncated'}`);
  const skipped = skippedText(report);
  if (skipped) lines.push(`  ${skipped}`);
  if (report.droppedStreams > 0)
    lines.push(`  ${report.droppedStreams} datagrams of streams past the first 256 not replayed`);
  for (const s of report.streams) {
    const digits = s.dtmf.map((d) => d.digit).join('');
    lines.push(
      `  ${s.key} ${s.codec ?? 'events only'}: ${s.packets} packets, lost ${s.lostInCapture}, ` +
        `concealed ${s.concealedSamples} samples${digits ? `, DTMF ${digits}` : ''}${s.wav ? ` -> ${s.wav}` : ''}` +
        `${s.skipped ? ` (skipped: ${s.skipped})` : ''}`,
    );
  }
  return lines.join('\n');
}

const SKIP_REASONS: Record<keyof ReplayReport['skippedFrames'], string> = {
  'unsupported-link': 'of link type {link}, which replay does not decode',
  'not-ip': 'not IP',
  'not-udp': 'not UDP',
  fragment: 'IP fragments (not reassembled)',
  malformed: 'malformed or cut short',
};

/** `N frames skipped: n why, ...`, or undefined when every frame held a UDP datagram. */
function skippedText(report: ReplayReport): string | undefined {
  const counts = Object.entries(report.skippedFrames).filter(([, count]) => count > 0);
  if (counts.length === 0) return undefined;
  const total = counts.reduce((sum, [, count]) => sum + count, 0);
  const parts = counts.map(([why, count]) => {
    const reason = SKIP_REASONS[why as keyof typeof SKIP_REASONS];
    return `${count} ${reason.replace('{link}', String(report.unsupportedLinkType))}`;
  });
  return `${total} frames skipped: ${parts.join(', ')}`;
}

/** Entry point; returns the process exit code (0 ok, 1 failure, 2 usage error). */
export async function replayMain(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const input = positionals[0];
  if (!input || positionals.length > 1) {
    process.stderr.write(USAGE);
    return 2;
  }
  try {
    const pipeline = await loadMediaPipeline();
    let selection: Pick<ReplayOptions, 'ssrcs' | 'ports' | 'eventPayloadType' | 'impairment'>;
    try {
      selection = {
        ssrcs: (values.ssrc ?? []).map(parseSsrc),
        ports: (values.port ?? []).map(parsePort),
        eventPayloadType: values['event-pt'] === undefined ? undefined : parsePayloadType(values['event-pt']),
        impairment: values.impair === undefined ? undefined : pipeline.parseImpairment(values.impair),
      };
    } catch (error) {
      process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    const showProgress = values.progress || process.stderr.isTTY;
    const report = await replayCapture({
      input,
      outDir: values.out ?? 'replay-out',
      receiverFactory: pipeline.receiverFactory,
      ...selection,
      codec: values.codec,
      impairSpec: values.impair,
      onProgress: showProgress
        ? (fraction) =>
            process.stderr.write(`\rreplay: ${(fraction * 100).toFixed(0)}%${fraction >= 1 ? '\n' : ''}`)
        : undefined,
    });
    process.stdout.write(`${summary(report)}\n`);
    return report.streams.length === 0 ? 1 : 0;
  } catch (error) {
    process.stderr.write(`replay failed: ${(error as Error).message}\n`);
    return 1;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      ssrc: { type: 'string', multiple: true },
      port: { type: 'string', multiple: true },
      codec: { type: 'string' },
      'event-pt': { type: 'string' },
      impair: { type: 'string' },
      progress: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

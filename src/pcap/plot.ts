/**
 * A self-contained HTML page (inline SVG, no scripts, no CDN) plotting, per stream, the
 * jitter buffer's delay and target delay and where audio was concealed, over replay time.
 */

interface TimelinePoint {
  /** Replay time since the capture's first packet. */
  tMs: number;
  bufferDelayMs: number | undefined;
  targetDelayMs: number | undefined;
  /** Samples concealed during this tick. */
  concealedSamples: number;
}

/** Keeps at most `capacity` points by dropping every other one when full (bounded memory). */
export class Timeline {
  readonly points: TimelinePoint[] = [];
  #stride = 1;
  #seen = 0;

  readonly #capacity: number;

  constructor(capacity = 2000) {
    this.#capacity = capacity;
  }

  add(point: TimelinePoint): void {
    // A concealment is always kept so the plot never hides one.
    if (this.#seen++ % this.#stride !== 0 && point.concealedSamples === 0) return;
    this.points.push(point);
    if (this.points.length >= this.#capacity) {
      const kept = this.points.filter((p, i) => i % 2 === 0 || p.concealedSamples > 0);
      this.points.splice(0, this.points.length, ...kept.slice(-Math.floor(this.#capacity / 2)));
      this.#stride *= 2;
    }
  }
}

export interface PlotStream {
  title: string;
  timeline: TimelinePoint[];
}

const WIDTH = 900;
const HEIGHT = 240;
const MARGIN = 40;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}

function polyline(points: [number, number][], color: string): string {
  if (points.length === 0) return '';
  const path = points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
  return `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${path}"/>`;
}

function streamSvg(stream: PlotStream): string {
  const points = stream.timeline;
  const endMs = Math.max(1, ...points.map((p) => p.tMs));
  const delays = points.flatMap((p) => [p.bufferDelayMs ?? 0, p.targetDelayMs ?? 0]);
  const maxDelay = Math.max(20, ...delays);
  const x = (tMs: number) => MARGIN + ((WIDTH - 2 * MARGIN) * tMs) / endMs;
  const y = (ms: number) => HEIGHT - MARGIN - ((HEIGHT - 2 * MARGIN) * ms) / maxDelay;
  const line = (pick: (p: TimelinePoint) => number | undefined) =>
    points.flatMap((p): [number, number][] => {
      const value = pick(p);
      return value === undefined ? [] : [[x(p.tMs), y(value)]];
    });
  const concealed = points
    .filter((p) => p.concealedSamples > 0)
    .map(
      (p) =>
        `<rect x="${x(p.tMs).toFixed(1)}" y="${MARGIN}" width="2" height="${HEIGHT - 2 * MARGIN}" fill="#e4572e" opacity="0.5"/>`,
    )
    .join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" role="img">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff" stroke="#ccc"/>`,
    concealed,
    polyline(
      line((p) => p.targetDelayMs),
      '#17becf',
    ),
    polyline(
      line((p) => p.bufferDelayMs),
      '#1f3a93',
    ),
    `<text x="${MARGIN}" y="${MARGIN - 8}" font-size="12">${maxDelay.toFixed(0)} ms</text>`,
    `<text x="${MARGIN}" y="${HEIGHT - MARGIN + 16}" font-size="12">0 s</text>`,
    `<text x="${WIDTH - MARGIN}" y="${HEIGHT - MARGIN + 16}" font-size="12" text-anchor="end">${(endMs / 1000).toFixed(1)} s</text>`,
    '</svg>',
  ].join('');
}

export function renderPlotHtml(title: string, streams: PlotStream[]): string {
  const sections = streams
    .map((s) => `<section><h2>${escapeHtml(s.title)}</h2>${streamSvg(s)}</section>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;margin:1em}h2{font-size:14px}.key span{margin-right:1.5em}</style></head>
<body><h1>${escapeHtml(title)}</h1>
<p class="key"><span style="color:#1f3a93">&#9632; buffer delay</span><span style="color:#17becf">&#9632; target delay</span><span style="color:#e4572e">&#9632; concealment</span></p>
${sections}
</body></html>
`;
}

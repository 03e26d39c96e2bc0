/** The gateway's Prometheus text (/metrics) read by the benches and the tests built on them. */

/** Every sample line of `text` as `name{labels}` → value (comment lines skipped). */
export function parseMetrics(text: string): Record<string, number> {
  const samples: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples[line.slice(0, space)] = Number(line.slice(space + 1));
  }
  return samples;
}

/** One scrape of the gateway's /metrics. */
export async function scrapeMetrics(apiUrl: string): Promise<Record<string, number>> {
  return parseMetrics(await (await fetch(`${apiUrl}/metrics`)).text());
}

/** The sum of `name`'s series, every label set, or only those whose labels include `label`. */
export function metricSum(samples: Record<string, number>, name: string, label = ''): number {
  let sum = 0;
  for (const [series, value] of Object.entries(samples))
    if ((series === name || series.startsWith(`${name}{`)) && series.includes(label)) sum += value;
  return sum;
}

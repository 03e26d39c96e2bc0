/**
 * What one log line costs the thread that writes it: the gateway's logger (secrets censored at
 * any depth, URLs without user info or query, src/util/log.ts) against pino with no redaction
 * at all in the same run, writing to a sink that discards, medians of five runs of 300,000
 * calls through a child logger with a call's bindings. Four shapes: a few flat fields, a nested
 * object, a URL field, an error. With a baseline tree (a built checkout of another commit), its
 * logger is measured too, for before/after.
 *
 *   npx tsx bench/log-call.ts [baseline-tree]
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { createLogger, type Logger } from '../src/util/index.js';

const CALLS = 300_000;
const RUNS = 5;
const sink = { write: () => true } as unknown as NodeJS.WritableStream;
const bindings = { callId: 'c-1234', trunk: 'carrier-a' };

const loggers: Array<[label: string, logger: Logger]> = [
  ['this tree', createLogger({ destination: sink }).child(bindings)],
  ['pino, no redaction', pino({ base: { service: 'patchbay' } }, sink).child(bindings) as unknown as Logger],
];
const baselineTree = process.argv[2];
if (baselineTree) {
  const url = pathToFileURL(resolve(baselineTree, 'dist/src/util/index.js')).href;
  const baseline = (await import(url)) as { createLogger: typeof createLogger };
  loggers.push([`baseline ${baselineTree}`, baseline.createLogger({ destination: sink }).child(bindings)]);
}

const shapes: Array<[name: string, write: (log: Logger) => void]> = [
  [
    '4 flat fields',
    (log) => log.info({ reason: 'bye', durationMs: 1234, remote: '10.0.0.1:5060', attempt: 2 }, 'call ended'),
  ],
  [
    'nested, 3 levels',
    (log) =>
      log.info(
        { trunk: { name: 'a', outbound: { host: 'sip.example', port: 5060, transport: 'udp' } }, attempt: 1 },
        'loaded',
      ),
  ],
  ['a URL field', (log) => log.warn({ url: 'https://cb.example/hook', status: 503, attempt: 3 }, 'refused')],
  ['an error', (log) => log.warn({ err: new Error('boom'), attempt: 3 }, 'failed')],
];

function nsPerCall(log: Logger, write: (log: Logger) => void): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) write(log);
  return Number(process.hrtime.bigint() - started) / CALLS;
}

console.log(`| shape | ${loggers.map(([label]) => `${label}, ns per call`).join(' | ')} |`);
console.log(`| --- | ${loggers.map(() => '---').join(' | ')} |`);
for (const [name, write] of shapes) {
  for (const [, log] of loggers) for (let i = 0; i < 50_000; i++) write(log); // warm-up
  const runs = loggers.map((): number[] => []);
  for (let run = 0; run < RUNS; run++)
    for (const [index, [, log]] of loggers.entries()) runs[index]?.push(nsPerCall(log, write));
  const medians = runs.map((values) => [...values].sort((a, b) => a - b)[Math.floor(RUNS / 2)] ?? 0);
  console.log(`| ${name} | ${medians.map((ns) => ns.toFixed(0)).join(' | ')} |`);
}

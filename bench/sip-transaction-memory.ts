/**
 * Heap held per live SIP server transaction, next to what the transaction layer's memory bound
 * (`sip.transactionMemory`) charges it. N requests from the parser go through the real
 * TransactionManager with the real message operations, the system clock and a transport that
 * sends nothing; each is answered the way a flood is, so all N sit waiting for a timer:
 *  - OPTIONS 200: non-INVITE Completed, Timer J (32 s on UDP);
 *  - INVITE 486: INVITE Completed, Timers G and H;
 *  - INVITE 180: INVITE Proceeding, the request still held (a CANCEL needs it).
 * Held = growth of V8's used heap plus ArrayBuffer memory between two full collections (before
 * the first request, after the last). Charged = the manager's `bytesHeld`.
 *
 *   node --expose-gc --import tsx bench/sip-transaction-memory.ts [count=20000] [--baseline DIR]
 *   npm run build && node --expose-gc dist/bench/sip-transaction-memory.js [count] [--baseline DIR]
 *
 * The first measures the TypeScript sources through tsx, the second the compiled JavaScript the
 * gateway runs: tsx keeps function names by defining a `name` property on every function, which
 * adds a few hundred bytes to each closure a transaction holds. With --baseline, DIR is an older
 * tree (`git archive main src package.json tsconfig.json | tar -x -C DIR`, node_modules linked,
 * and `npx tsc -p DIR/tsconfig.json` for the compiled run) and each scenario is measured in both
 * trees, alternately, 3 rounds; every measurement runs in its own child process. Only APIs both
 * trees have are used.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SCENARIOS = ['OPTIONS 200', 'INVITE 486', 'INVITE 180'] as const;
type Scenario = (typeof SCENARIOS)[number];
const ROUNDS = 3;

interface Measurement {
  heldPerTransaction: number;
  chargedPerTransaction: number;
}

/** A carrier's request as it arrives: its own datagram buffer, as UDP delivers it. */
function requestBytes(method: string, n: number): Buffer {
  const source = `192.0.2.${1 + (n % 200)}`;
  const sdp =
    'v=0\r\no=- 3911 3911 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n' +
    'm=audio 20000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n' +
    'a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n';
  const body = method === 'INVITE' ? sdp : '';
  const lines = [
    `${method} sip:+15551230000@127.0.0.1:5060 SIP/2.0`,
    `Via: SIP/2.0/UDP ${source}:5060;branch=z9hG4bK-524287-1---${n.toString(16).padStart(16, '0')};rport`,
    'Max-Forwards: 70',
    `Contact: <sip:+15559870000@${source}:5060>`,
    'To: <sip:+15551230000@127.0.0.1>',
    `From: "Caller" <sip:+15559870000@${source}>;tag=${n.toString(36)}f1a7b`,
    `Call-ID: ${n.toString(16).padStart(8, '0')}8d6a4b4c1e9f0a7b6c5d4e3f21`,
    `CSeq: 1 ${method}`,
    'Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE',
    'User-Agent: carrier-sbc/1.0',
    'Supported: replaces, timer',
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${body.length}`,
    '',
    body,
  ];
  const text = Buffer.from(lines.join('\r\n'));
  const datagram = Buffer.allocUnsafeSlow(text.length);
  text.copy(datagram);
  return datagram;
}

const heldBytes = (): number => {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
};

function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  gc();
  gc();
}

/** Run as compiled JavaScript (dist/bench/), this bench measures the trees' compiled code too. */
const compiled = import.meta.url.endsWith('.js');
const here = resolve(fileURLToPath(import.meta.url), compiled ? '../../..' : '../..');

/** One scenario in one tree: N transactions, all alive when measured. */
async function measure(root: string, scenario: Scenario, count: number): Promise<Measurement> {
  const load = (module: string) =>
    import(pathToFileURL(resolve(root, compiled ? `dist/src/${module}.js` : `src/${module}.ts`)).href);
  const { TransactionManager } = await load('sip/transaction/index');
  const { createResponse, messageOps } = await load('sip/message-ops');
  const { parseMessage } = await load('sip/parser');
  const { SystemClock } = await load('util/index');
  const [method, status] = scenario.split(' ') as [string, string];
  const manager = new TransactionManager({
    clock: new SystemClock(),
    factory: messageOps,
    send: () => undefined,
    isReliable: () => false,
    onRequest: (request: unknown, transaction: { respond(response: unknown): void }) =>
      transaction.respond(createResponse(request, Number(status))),
    maxTransactions: count + 1,
    memory: { maxBytes: 2 ** 40, maxBytesPerSource: 2 ** 40 },
  });
  // Warm up code paths and caches (header-name memos) before the window opens.
  for (let n = 0; n < 200; n++)
    manager.receiveRequest(parseMessage(requestBytes(method, count + n)), source(n));
  manager.close();
  collect();
  const before = heldBytes();
  for (let n = 0; n < count; n++) manager.receiveRequest(parseMessage(requestBytes(method, n)), source(n));
  await new Promise((done) => setImmediate(done));
  collect();
  const held = heldBytes() - before;
  if (manager.serverCount !== count) throw new Error(`${manager.serverCount} of ${count} alive`);
  const charged = manager.bytesHeld;
  manager.close();
  return { heldPerTransaction: held / count, chargedPerTransaction: charged / count };
}

function source(n: number) {
  return { transport: 'udp', address: `192.0.2.${1 + (n % 200)}`, port: 5060 };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1] ?? 0;

/** Runs one measurement in a fresh child process, so trees and scenarios do not share a heap. */
function measureInChild(root: string, scenario: Scenario, count: number): Measurement {
  const output = execFileSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), '--child', root, scenario, String(count)],
    { encoding: 'utf8' },
  );
  return JSON.parse(output) as Measurement;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    const [, root = '.', scenario = 'OPTIONS 200', count = '20000'] = args;
    process.stdout.write(JSON.stringify(await measure(root, scenario as Scenario, Number(count))));
    return;
  }
  const baselineAt = args.indexOf('--baseline');
  const baseline = baselineAt >= 0 ? args.splice(baselineAt, 2)[1] : undefined;
  const count = Number(args[0] ?? 20_000);
  const trees: Array<[string, string]> = baseline
    ? [
        ['baseline', resolve(baseline)],
        ['this tree', here],
      ]
    : [['this tree', here]];
  const code = compiled ? 'compiled JavaScript' : 'TypeScript through tsx';
  console.log(`${count} live server transactions per run (${code}), median of ${ROUNDS} runs, bytes each\n`);
  console.log('| scenario | tree | held (heap + ArrayBuffers) | charged by the bound | held / charged |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const scenario of SCENARIOS) {
    const runs = new Map<string, Measurement[]>(trees.map(([name]) => [name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, root] of trees) runs.get(name)?.push(measureInChild(root, scenario, count));
    }
    for (const [name] of trees) {
      const measured = runs.get(name) ?? [];
      const held = median(measured.map((m) => m.heldPerTransaction));
      const charged = median(measured.map((m) => m.chargedPerTransaction));
      console.log(
        `| ${scenario} | ${name} | ${held.toFixed(0)} | ${charged.toFixed(0)} | ${(held / charged).toFixed(2)} |`,
      );
    }
  }
}

await main();

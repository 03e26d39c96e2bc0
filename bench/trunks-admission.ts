/**
 * Per-call cost of the trunk decisions the gateway makes for each INVITE, against a
 * baseline in the same run (one Map lookup + counter update: the cheapest possible "limit"):
 *  - inbound: InboundMatcher.match (longest-prefix CIDR over 50 trunks + route choice)
 *  - cps:     MemoryCpsStore.takeNow over trunk + number + route buckets (10k distinct numbers)
 *  - route:   OutboundRouter.order for a 4-gateway trunk (reads 4 health snapshots)
 *  - health:  GatewayHealth.recordAttempt + snapshot (60 one-second buckets)
 * Each scenario runs TRIALS batches of BATCH calls; we report the median and p99 of the
 * per-batch ns/call and the ratio of medians to the baseline.
 *
 * Run: npx tsx bench/trunks-admission.ts
 */
import { gatewayFileSchema, makeSnapshot, trunkSchema } from '../src/config/index.js';
import {
  callCpsLimits,
  GatewayHealth,
  HealthRegistry,
  InboundMatcher,
  MemoryCpsStore,
  nodeDnsClient,
  OutboundRouter,
  ServerLocator,
} from '../src/trunks/index.js';
import { FakeClock, seededRandom, silentLogger } from '../src/util/index.js';

const TRIALS = 31;
const BATCH = 5_000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function measure(name: string, run: (i: number) => void): { name: string; median: number; p99: number } {
  for (let i = 0; i < BATCH; i++) run(i); // warm-up
  const perCall: number[] = [];
  let i = 0;
  for (let trial = 0; trial < TRIALS; trial++) {
    const start = process.hrtime.bigint();
    for (let n = 0; n < BATCH; n++) run(i++);
    perCall.push(Number(process.hrtime.bigint() - start) / BATCH);
  }
  perCall.sort((a, b) => a - b);
  return { name, median: percentile(perCall, 50), p99: percentile(perCall, 99) };
}

const clock = new FakeClock();
const trunks = Array.from({ length: 50 }, (_, t) =>
  trunkSchema.parse({
    name: `carrier-${t}`,
    inbound: { allowedCidrs: [`10.${t}.0.0/16`, `10.${t}.1.0/24`, `2001:db8:${t.toString(16)}::/48`] },
    outbound: {
      gateways: [
        { name: 'a', host: '192.0.2.1', priority: 1 },
        { name: 'b', host: '192.0.2.2', priority: 1, weight: 2 },
        { name: 'c', host: '192.0.2.3', priority: 2 },
        { name: 'd', host: '192.0.2.4', priority: 3 },
      ],
    },
    cps: { rate: 1e9, burst: 1e9, perNumber: { rate: 1e9, burst: 1e9 } },
  }),
);
const gateway = gatewayFileSchema.parse({
  routes: [
    { match: '*', target: { url: 'builtin:echo' } },
    { match: '+1555*', target: { url: 'wss://bot/a' }, cps: { rate: 1e9, burst: 1e9 } },
    { match: '/^\\+44(20|161)/', target: { url: 'wss://bot/uk' } },
  ],
});
const config = makeSnapshot(gateway, trunks);
const matcher = new InboundMatcher(config);
const store = new MemoryCpsStore();
// Gateways given by IP address: the locator never asks DNS.
const locator = new ServerLocator({
  dns: nodeDnsClient(gateway.dns),
  clock,
  logger: silentLogger,
  config: gateway.dns.cache,
});
const registry = new HealthRegistry(clock, locator);
registry.apply(config);
const router = new OutboundRouter(registry, locator, clock, seededRandom(1));
const health = new GatewayHealth('bench/a', trunks[0]!.health, clock);
const numbers = Array.from({ length: 10_000 }, (_, n) => `+1555${String(n).padStart(7, '0')}`);
const baselineCounts = new Map<string, number>();
let sink = 0;

const results = [
  measure('baseline: Map lookup + counter', (i) => {
    const key = numbers[i % numbers.length]!;
    baselineCounts.set(key, (baselineCounts.get(key) ?? 0) + 1);
  }),
  measure('inbound: CIDR + route match', (i) => {
    const decision = matcher.match(
      { address: `10.${i % 50}.1.${i % 250}`, transport: 'udp' },
      numbers[i % numbers.length]!,
    );
    if (decision.ok) sink++;
  }),
  measure('cps: take trunk+number+route', (i) => {
    const number = numbers[i % numbers.length]!;
    const { limits } = callCpsLimits(trunks[i % 50]!, number, { id: '1', config: gateway.routes[1]! });
    if (store.takeNow(limits, i).allowed) sink++;
  }),
  measure('route: order 4 gateways by health', (i) => {
    sink += router.order(trunks[i % 50]!).length;
  }),
  measure('health: record attempt + snapshot', (i) => {
    clock.advance(1);
    health.recordAttempt({ answered: i % 3 !== 0, networkFailure: i % 10 === 0, pddMs: 1500, setupMs: 3000 });
    sink += health.snapshot().score;
  }),
];

const baseline = results[0]!.median;
console.log(`trunk decisions per call, ns (${TRIALS} batches of ${BATCH}; sink ${sink > 0})\n`);
console.log('| scenario | median ns/call | p99 ns/call | x baseline |');
console.log('| --- | --- | --- | --- |');
for (const r of results) {
  console.log(
    `| ${r.name} | ${r.median.toFixed(0)} | ${r.p99.toFixed(0)} | ${(r.median / baseline).toFixed(1)} |`,
  );
}

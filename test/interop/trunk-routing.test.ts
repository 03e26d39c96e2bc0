/**
 * Health-scored routing against real carriers: three SIPp processes act
 * as the gateways of one trunk behind a real `patchbay start`, all at one priority. "refuses"
 * answers every INVITE with 503, "slow" answers after 4 s, "healthy" at once. Calls placed
 * through POST /v1/calls must fail over 503 → another gateway; the refusing and the slow
 * gateway's scores must fall and the traffic move to the healthy one. Stopping the healthy
 * SIPp must get it marked down by OPTIONS probing within the configured failures (and skipped),
 * restarting it must mark it up again, and once the refusing gateway starts answering and its
 * failures leave the health window, calls must reach it again.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type GatewayProcess, placeCall, startGatewayProcess } from './helpers/gateway-process.js';
import { freePort, type SippHandle, skipWithoutSipp, startSipp } from './helpers/sipp.js';

const skip = skipWithoutSipp();
const FIXTURES = join(import.meta.dirname, '../../../fixtures/sipp');
const CARRIER_503 = join(FIXTURES, 'carrier_503.xml');
const CARRIER_ANSWER = join(FIXTURES, 'carrier_answer.xml');
const SLOW_ANSWER_MS = 4000;
const PROBING = { intervalMs: 1000, timeoutMs: 500, failuresToMarkDown: 2, successesToMarkUp: 2 };
const WINDOW_MS = 20_000;

interface Attempt {
  gateway: string;
  outcome: string;
}
interface MetricView {
  level: string;
  value?: number;
}
interface TrunkHealth {
  gatewayId: string;
  score: number;
  liveness: string;
  metrics: Record<string, MetricView>;
}

/** One carrier gateway: a SIPp on a fixed port that can be stopped and replaced. */
function startCarrier(port: number, scenario: string, answerDelayMs = 0): SippHandle {
  return startSipp({
    scenario,
    localPort: port,
    timeoutMs: 170_000,
    extraArgs: ['-d', String(answerDelayMs)],
  });
}

const trunkYaml = (ports: { refuses: number; slow: number; healthy: number }) =>
  [
    'name: routing',
    'outbound:',
    '  gateways:',
    ...Object.entries(ports).map(
      ([name, port]) => `    - { name: ${name}, host: 127.0.0.1, port: ${port}, priority: 1 }`,
    ),
    '  attemptTimeoutMs: 8000',
    '  maxAttempts: 3',
    'codecs: [PCMU, PCMA]',
    'cps: { rate: 50, burst: 50 }',
    `probing: ${JSON.stringify({ ...PROBING, jitter: 0 })}`,
    'health:',
    `  windowMs: ${WINDOW_MS}`,
    '  bucketMs: 1000',
    '  minCalls: 3',
    '  asr: { warn: 0.5, critical: 0.3, criticalPenalty: 0.05 }',
    '  ccr: { warn: 0.9, critical: 0.7, criticalPenalty: 0.2 }',
    '  astMs: { warn: 2000, critical: 3000, criticalPenalty: 0.05 }',
    // The test calls last one second; only the delays and answers should count.
    '  acdSec: { warn: 0.5, critical: 0.1 }',
    '',
  ].join('\n');

test('three SIPp carriers: failover, score-weighted traffic shift, OPTIONS down/up, recovery', {
  skip,
  timeout: 170_000,
}, async (t) => {
  const ports = { refuses: await freePort(), slow: await freePort(), healthy: await freePort() };
  const carriers: Record<keyof typeof ports, SippHandle> = {
    refuses: startCarrier(ports.refuses, CARRIER_503),
    slow: startCarrier(ports.slow, CARRIER_ANSWER, SLOW_ANSWER_MS),
    healthy: startCarrier(ports.healthy, CARRIER_ANSWER),
  };
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await startGatewayProcess({ botUrl: 'builtin:echo', trunks: { routing: trunkYaml(ports) } });
    const api = gateway.apiUrl;
    const process = gateway;
    const health = async (): Promise<Map<string, TrunkHealth>> => {
      const body = (await (await fetch(`${api}/v1/trunks`)).json()) as { trunks: TrunkHealth[] };
      return new Map(body.trunks.map((t) => [t.gatewayId.replace('routing/', ''), t]));
    };
    const place = () => placeCall(process, 'routing');
    /** Waits (bounded) for the call records of `ids` and returns their attempts. */
    const attemptsOf = async (ids: string[]): Promise<Attempt[][]> => {
      for (let i = 0; i < 200; i++) {
        const records = new Map(process.records().map((r) => [r['id'] as string, r]));
        if (ids.every((id) => records.has(id)))
          return ids.map((id) => (records.get(id)?.['attempts'] ?? []) as Attempt[]);
        await delay(100);
      }
      throw new Error('call records missing');
    };
    const until = async (what: string, check: () => Promise<boolean>, limitMs: number): Promise<number> => {
      const started = performance.now();
      while (!(await check())) {
        if (performance.now() - started > limitMs) throw new Error(`${what}: not within ${limitMs} ms`);
        await delay(100);
      }
      return performance.now() - started;
    };
    const name = (attempt: Attempt | undefined) => attempt?.gateway.replace('routing/', '');
    const answeredEverywhere = (calls: Attempt[][]) => {
      for (const attempts of calls) {
        assert.equal(attempts.at(-1)?.outcome, '200', `answered: ${JSON.stringify(attempts)}`);
        for (const failed of attempts.slice(0, -1))
          assert.deepEqual([name(failed), failed.outcome], ['refuses', '503'], 'only 503 fails over');
      }
    };

    // 1. Learning: every gateway scores 1 until it has minCalls samples, so calls spread evenly;
    // place calls until the refusing one's ASR and the slow one's setup time are judged.
    await until(
      'first probes',
      async () => [...(await health()).values()].every((h) => h.liveness === 'up'),
      5000,
    );
    const learning: string[] = [];
    await until(
      'scores judged',
      async () => {
        const view = await health();
        if (
          view.get('refuses')?.metrics['asr']?.level === 'critical' &&
          view.get('slow')?.metrics['astMs']?.level === 'critical'
        )
          return true;
        learning.push(await place());
        await delay(250);
        return false;
      },
      30_000,
    );
    answeredEverywhere(await attemptsOf(learning));
    const judged = await health();
    assert.ok(
      (judged.get('refuses')?.score ?? 1) <= 0.01 + 1e-9,
      `refuses score ${judged.get('refuses')?.score}`,
    );
    assert.ok((judged.get('slow')?.score ?? 1) <= 0.05 + 1e-9, `slow score ${judged.get('slow')?.score}`);
    assert.equal(judged.get('healthy')?.score, 1);
    await until(
      'score exported',
      async () =>
        /patchbay_trunk_score\{trunk="routing",gateway="refuses"\} 0\.0/.test(
          await (await fetch(`${api}/metrics`)).text(),
        ),
      5000,
    );

    // 2. Traffic shift: the healthy gateway (score 1 against 0.05 and 0.01) takes ~94% of first
    // attempts. Bounds hold with probability > 99.9% (binomial, n = 20).
    const shifted = await attemptsOf(await placeSpaced(place, 20, 200));
    answeredEverywhere(shifted);
    const firsts = shifted.map((attempts) => name(attempts[0]));
    const count = (who: string) => firsts.filter((first) => first === who).length;
    assert.ok(count('healthy') >= 15, `first attempts: ${firsts.join(',')}`);
    assert.ok(count('refuses') <= 2, `first attempts: ${firsts.join(',')}`);
    t.diagnostic(
      `learning: ${learning.length} calls; shift: first attempts healthy ${count('healthy')}, slow ${count('slow')}, refuses ${count('refuses')} of 20`,
    );

    // 3. Probing: the healthy SIPp stops; two failed probes (1 s apart, 0.5 s deadline) mark it
    // down and calls skip it. Meanwhile the refusing carrier is replaced by one that answers.
    await carriers.healthy.stop();
    await carriers.refuses.stop();
    carriers.refuses = startCarrier(ports.refuses, CARRIER_ANSWER);
    const downAfterMs = await until(
      'healthy marked down',
      async () => (await health()).get('healthy')?.liveness === 'down',
      8000,
    );
    const limitMs = PROBING.failuresToMarkDown * (PROBING.intervalMs + PROBING.timeoutMs) + 500;
    assert.ok(downAfterMs <= limitMs, `down after ${downAfterMs.toFixed(0)} ms (limit ${limitMs})`);
    const whileDown = await attemptsOf(await placeSpaced(place, 3, 200));
    for (const attempts of whileDown) {
      assert.equal(attempts.at(-1)?.outcome, '200');
      assert.ok(!attempts.some((a) => name(a) === 'healthy'), `skipped: ${JSON.stringify(attempts)}`);
    }
    carriers.healthy = startCarrier(ports.healthy, CARRIER_ANSWER);
    const upAfterMs = await until(
      'healthy marked up',
      async () => (await health()).get('healthy')?.liveness === 'up',
      8000,
    );
    assert.ok(upAfterMs <= PROBING.successesToMarkUp * PROBING.intervalMs + 1500, `up after ${upAfterMs} ms`);

    // 4. Recovery: the once-refusing gateway now answers; when its 503s leave the window its
    // score is back to 1 and traffic returns to it.
    await until(
      'refuses recovered',
      async () => (await health()).get('refuses')?.score === 1,
      WINDOW_MS + 5000,
    );
    const recovered: string[] = [];
    await until(
      'calls reach the recovered gateway',
      async () => {
        const answeredThere = (await attemptsOf(recovered)).filter(
          (attempts) => name(attempts[0]) === 'refuses' && attempts[0]?.outcome === '200',
        );
        if (answeredThere.length >= 3) return true;
        recovered.push(...(await placeSpaced(place, 3, 200)));
        return false;
      },
      60_000,
    );
    assert.ok(recovered.length <= 30, `${recovered.length} calls to see 3 reach it`);
    t.diagnostic(
      `probing: down after ${downAfterMs.toFixed(0)} ms, up after ${upAfterMs.toFixed(0)} ms; recovery: 3 answered first attempts within ${recovered.length} calls`,
    );
    assert.equal(gateway.child.exitCode, null, 'the gateway is still running');
  } finally {
    await gateway?.stop();
    await Promise.all(Object.values(carriers).map((carrier) => carrier.stop()));
  }
});

/** Places `count` calls `gapMs` apart and returns their ids. */
async function placeSpaced(place: () => Promise<string>, count: number, gapMs: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    ids.push(await place());
    await delay(gapMs);
  }
  return ids;
}

import { makeEvent } from '../helpers/events';
import type { startHarness } from '../helpers/harness';
import { exited } from '../helpers/processes';
import { redisUrl } from '../helpers/redis';
import type { AppResult } from '../../src/model/call';
import { connect, openJobs, postAll, Processes, report, startFaultCase, tally, tallyLine, waitAllFinal } from './support/cluster';
import { hashUnit, LedgerReceiver, sleep, type Answer, type Delivery } from './support/ledger';

const CALLS = 300;
/** retry_jitter's default: a delay may be this fraction shorter. */
const JITTER = 0.2;
const TIMEOUT_MS = 800;
const SLOW_MS = 2500;
/** retry_count and retry_delay of each app, as the policies file below says. */
const RETRIES: Record<string, { count: number; delayMs: number }> = {
  half: { count: 3, delayMs: 20 },
  reset: { count: 2, delayMs: 20 },
  slow: { count: 2, delayMs: 20 },
  summary: { count: 3, delayMs: 20 },
};

/** Which fault each key meets, decided from the key alone so every run is the same. */
const plan = (d: Delivery): Answer => {
  const c = hashUnit(d.key);
  switch (d.path) {
    case '/half': // 503 half the time: a coin per key and attempt
      return hashUnit(`${d.key}#${d.attempt}`) < 0.5 ? { status: 503 } : {};
    case '/reset': // a quarter always reset, a third reset once, the rest answer
      return c < 0.25 || (c < 0.6 && d.attempt === 1) ? { reset: true } : {};
    case '/slow': // slower than the app's timeout: always, on the first attempt only, or never
      return c < 0.3 || (c < 0.6 && d.attempt === 1) ? { delayMs: SLOW_MS } : {};
    default:
      return {};
  }
};

/** What the plan says each app ends with: status and number of attempts. */
function expected(slug: string, key: string): { status: 'success' | 'failed'; attempts: number; code?: string } | undefined {
  const max = 1 + (RETRIES[slug]?.count ?? 0);
  const c = hashUnit(key);
  switch (slug) {
    case 'half': {
      for (let attempt = 1; attempt <= max; attempt++) if (hashUnit(`${key}#${attempt}`) >= 0.5) return { status: 'success', attempts: attempt };
      return { status: 'failed', attempts: max, code: 'CALLHOOK_HTTP_STATUS' };
    }
    case 'reset':
      return c < 0.25 ? { status: 'failed', attempts: max, code: 'CALLHOOK_HTTP_NETWORK' } : { status: 'success', attempts: c < 0.6 ? 2 : 1 };
    case 'slow':
      // A loaded machine may time out a fast answer too, so only the always-slow keys are exact.
      return c < 0.3 ? { status: 'failed', attempts: max, code: 'CALLHOOK_HTTP_TIMEOUT' } : undefined;
    default:
      return { status: 'success', attempts: 1 };
  }
}

/**
 * Three bad receivers behind one policy: one answering 503 half the time, one resetting
 * connections, one slower than the app's timeout, then a summary app that always answers.
 * Every call must end `completed` or `partial`, and each app's stored result must show the
 * attempts the policies file allows (1 + retry_count for an app that never succeeded), the same
 * number the receiver counted, spaced by at least retry_delay × 2^(n−1), less the jitter.
 */
describe('fault: misbehaving receivers', () => {
  const processes = new Processes();
  const receiver = new LedgerReceiver(plan);
  let h: Awaited<ReturnType<typeof startHarness>>;
  let env: Record<string, string>;

  beforeAll(async () => {
    // The circuit breaker is off: this case is about each app's own retries against receivers
    // that fail on purpose (delivery-controls.test.ts covers the breaker).
    const r = (slug: string) => `retry_count: ${RETRIES[slug]?.count}, retry_delay: ${RETRIES[slug]?.delayMs}ms, circuit: false`;
    ({ h, env } = await startFaultCase(__filename, 'receivers', receiver, (url) => `
policies:
  - id: default
    apps:
      - { name: Half, method: POST, url: "${url}/half", body: { call: "{{ event.call_id }}" }, ${r('half')} }
      - { name: Reset, url: "${url}/reset", timeout: 10s, ${r('reset')} }
      - { name: Slow, url: "${url}/slow", timeout: ${TIMEOUT_MS}ms, ${r('slow')} }
      - { name: Summary, method: POST, url: "${url}/summary", ${r('summary')}, body: { half: "{{ app_data.half.status }}", reset: "{{ app_data.reset.status }}", slow: "{{ app_data.slow.status }}" } }
`, { CALLHOOK_CONCURRENCY: '100' }));
  });

  afterAll(async () => {
    await processes.stopAll();
    await h?.stop();
    await receiver.stop();
  });

  it('ends every call completed or partial with the attempts the config allows', async () => {
    const events = Array.from({ length: CALLS }, (_, i) => makeEvent({ call_id: `rx-${i}-${h.prefix.slice(-8)}` }));
    const ids = events.map((e) => e.call_id);
    const worker = processes.cli(['worker'], env);
    const redis = connect(redisUrl());
    try {
      const started = Date.now();
      const { accepted } = await postAll(h.baseUrl, events);
      expect(accepted.size).toBe(CALLS);
      const final = await waitAllFinal(redis, h.prefix, ids, 120_000);
      const elapsed = Date.now() - started;
      let open = await openJobs(redisUrl(), h.prefix);
      for (let i = 0; i < 40 && open > 0; i++) open = await sleep(250).then(() => openJobs(redisUrl(), h.prefix));
      const t = tally(receiver, ids, final, { mustSucceed: ['summary'] });

      const problems: string[] = [];
      const outcomes: Record<string, Record<string, number>> = {};
      let backoffChecked = 0;
      for (const id of ids) {
        const record = await h.get(id);
        if (!record) continue; // counted as lost
        const results = record.app_data as Record<string, AppResult>;
        const failed = Object.values(results).some((r) => r.status === 'failed');
        if (record.status !== (failed ? 'partial' : 'completed')) problems.push(`${id}: status ${record.status}`);
        for (const slug of Object.keys(RETRIES)) {
          const result = results[slug];
          const key = `${id}.${slug}`;
          const seen = receiver.attempts(key);
          const max = 1 + (RETRIES[slug]?.count ?? 0);
          if (!result) {
            problems.push(`${key}: no result`);
            continue;
          }
          (outcomes[slug] ??= {})[`${result.status}/${result.attempts}`] = (outcomes[slug]?.[`${result.status}/${result.attempts}`] ?? 0) + 1;
          if (result.attempts !== seen.length) problems.push(`${key}: stored ${result.attempts} attempts, receiver saw ${seen.length}`);
          if (result.status === 'failed' && result.attempts !== max) problems.push(`${key}: failed after ${result.attempts} attempts, config says ${max}`);
          if (result.attempts > max) problems.push(`${key}: ${result.attempts} attempts > ${max}`);
          const last = seen[seen.length - 1];
          if ((result.status === 'success') !== (last?.status !== undefined && last.status < 300 && !last.aborted)) {
            problems.push(`${key}: stored ${result.status}, receiver's last answer ${last?.aborted ? 'aborted' : last?.status}`);
          }
          const want = expected(slug, key);
          if (want && (want.status !== result.status || want.attempts !== result.attempts || (want.code && result.error?.code !== want.code))) {
            problems.push(`${key}: expected ${JSON.stringify(want)}, stored ${result.status}/${result.attempts}/${result.error?.code}`);
          }
          if (slug === 'slow' && hashUnit(key) >= 0.3 && result.status !== 'success') problems.push(`${key}: slow once or never, yet ${result.status}`);
          for (let n = 1; n < seen.length; n++) {
            const gap = (seen[n]?.arrivedAt ?? 0) - (seen[n - 1]?.arrivedAt ?? 0);
            const wait = Math.floor((RETRIES[slug]?.delayMs ?? 0) * 2 ** (n - 1) * (1 - JITTER));
            backoffChecked += 1;
            if (gap < wait) problems.push(`${key}: retry ${n} after ${gap} ms, backoff says ≥ ${wait} ms`);
          }
        }
        const summary = receiver.attempts(`${id}.summary`).find((d) => d.status === 200);
        const told = summary ? (JSON.parse(summary.body) as Record<string, string>) : {};
        for (const slug of ['half', 'reset', 'slow']) if (told[slug] !== results[slug]?.status) problems.push(`${id}: summary saw ${slug}=${told[slug]}`);
      }

      const statuses = [...final.values()].reduce<Record<string, number>>((acc, s) => ({ ...acc, [String(s)]: (acc[String(s)] ?? 0) + 1 }), {});
      const fmt = (slug: string) => `${slug} ${Object.entries(outcomes[slug] ?? {}).sort().map(([k, v]) => `${k}×${v}`).join(' ')}`;
      report(
        `503/reset/slow receivers: ${tallyLine(t, 'apps retried')}, ${JSON.stringify(statuses)}, attempts (status/attempts×calls): ${['half', 'reset', 'slow'].map(fmt).join('; ')}, ` +
          `${backoffChecked} retry gaps checked, problems ${problems.length}, jobs left ${open}, ${elapsed} ms`,
      );
      for (const key of [...receiver.resentAfterSuccess(), ...receiver.answersLostInTransit()].slice(0, 5)) {
        const seen = receiver.attempts(key).map((d) => `#${d.attempt} ${d.aborted ? 'aborted' : d.status} answered +${d.answeredAt ? d.answeredAt - d.arrivedAt : '-'} ms closed +${d.closedAt ? d.closedAt - d.arrivedAt : '-'} ms`);
        report(`  repeated after a 2xx: ${key}: ${seen.join(', ')}`);
      }
      expect(problems.slice(0, 10)).toEqual([]);
      expect(t).toMatchObject({ lost: 0, resentAfterSuccess: 0, stuck: 0 });
      expect(open).toBe(0);
      expect(Object.keys(statuses).sort()).toEqual(['completed', 'partial']);
    } finally {
      redis.disconnect();
      worker.kill('SIGTERM');
      await exited(worker);
    }
  });
});

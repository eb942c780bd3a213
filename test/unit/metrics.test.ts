import { curriBuckets, Metrics, SCRAPE_REDIS_TIMEOUT_MS } from '../../src/metrics/metrics';

/** The Redis-backed gauges at scrape time: live values, and a /metrics that still answers while Redis does not. */
describe('Metrics gauges read from Redis', () => {
  it('reports queue depth, workers and readiness', async () => {
    const metrics = new Metrics({ getJobCounts: async () => ({ waiting: 7, active: 2 }) }, { workers: { queue: 'calls', count: async () => 3 }, ready: async () => 'OK' });
    const text = await metrics.text();
    expect(text).toMatch(/^callhook_queue_jobs\{state="waiting"\} 7$/m);
    expect(text).toMatch(/^callhook_queue_jobs\{state="delayed"\} 0$/m);
    expect(text).toMatch(/^callhook_queue_workers\{queue="calls"\} 3$/m);
    expect(text).toMatch(/^callhook_redis_ready 1$/m);
  });

  it('answers within the scrape bound when Redis hangs or fails: not ready, no stale queue samples', async () => {
    let hang = false;
    const never = new Promise<never>(() => undefined);
    const metrics = new Metrics(
      { getJobCounts: async () => (hang ? never : { waiting: 7 }) },
      { workers: { queue: 'calls', count: async () => (hang ? never : 3) }, ready: async () => { if (hang) throw new Error('connect ECONNREFUSED'); } },
    );
    expect(await metrics.text()).toMatch(/^callhook_queue_workers\{queue="calls"\} 3$/m);
    hang = true;
    const started = Date.now();
    const text = await metrics.text();
    expect(Date.now() - started).toBeLessThan(SCRAPE_REDIS_TIMEOUT_MS + 1000);
    expect(text).toMatch(/^callhook_redis_ready 0$/m);
    expect(text).not.toMatch(/^callhook_queue_jobs\{/m);
    expect(text).not.toMatch(/^callhook_queue_workers\{/m);
    expect(text).toMatch(/^callhook_process_resident_memory_bytes \d+/m);
  });

  it('leaves out the default gauges named like counters', async () => {
    const text = await new Metrics().text();
    expect(text).toMatch(/^# TYPE callhook_nodejs_active_handles gauge$/m);
    expect(text).not.toMatch(/callhook_nodejs_active_(handles|requests|resources)_total/);
  });
});

describe('CURRI answer time buckets', () => {
  /** The cumulative count of each bucket, by its `le`. */
  const buckets = (text: string) => [...text.matchAll(/^callhook_curri_duration_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])] as const);

  it('are laid out around CALLHOOK_CURRI_TIMEOUT: answers on time, just late and very late are told apart', async () => {
    const metrics = new Metrics(undefined, {}, { curriTimeoutMs: 1500 });
    for (const ms of [3, 1200, 1499, 1510, 2400]) metrics.curriAnswered('Permit', 'timeout', ms);
    const listed = buckets(await metrics.text());
    const counts = Object.fromEntries(listed);
    expect(listed.map(([le]) => le)).toEqual(['0.002', '0.005', '0.01', '0.015', '0.025', '0.05', '0.1', '0.25', '0.75', '1.125', '1.35', '1.425', '1.5', '1.575', '1.65', '1.875', '2.25', '3', '+Inf']);
    expect(counts['1.5']).toBe(3); // on time
    expect(counts['1.575']! - counts['1.5']!).toBe(1); // 1.51 s: just past the deadline
    expect(counts['3']! - counts['2.25']!).toBe(1); // 2.4 s: far past it
  });

  it('follow a short timeout too, without fast buckets above it', () => {
    expect(curriBuckets(200)).toEqual([0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.15, 0.18, 0.19, 0.2, 0.21, 0.22, 0.25, 0.3, 0.4]);
  });
});


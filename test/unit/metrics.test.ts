import { Metrics, SCRAPE_REDIS_TIMEOUT_MS } from '../../src/metrics/metrics';

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

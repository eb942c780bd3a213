import { makeEvent } from '../helpers/events';
import { exited } from '../helpers/processes';
import { uniquePrefix } from '../helpers/redis';
import {
  connect, freePort, openJobs, postAll, Processes, report, tally, tallyLine, tempDir, TestRedis, waitAllFinal, waitHealthy, writeTemp,
} from './support/cluster';
import { hashUnit, LedgerReceiver, sleep } from './support/ledger';

const CALLS = 1500;
const SLUGS = ['lookup', 'notify'];

/**
 * Redis stopped and started again while an API process takes calls and two worker processes
 * run them. The Redis is the test's own (its own port, append-only file fsynced on every
 * write), so stopping it touches nothing else. The producer retries what the API refused, as
 * a real one does; every call it was answered 202 for must end final, each app answered 2xx
 * once.
 */
describe('fault: Redis stopped and restarted mid-run', () => {
  const processes = new Processes();
  const receiver = new LedgerReceiver((d) => ({ delayMs: 3 + Math.floor(hashUnit(d.key) * 15) }));
  let redis: TestRedis;

  beforeAll(async () => {
    await receiver.start();
    redis = await TestRedis.start(processes);
  });

  afterAll(async () => {
    await processes.stopAll();
    await redis?.destroy();
    await receiver.stop();
  });

  it('reconnects the API and the workers and loses nothing', async () => {
    const yaml = `
policies:
  - id: default
    apps:
      - { name: Lookup, url: "${receiver.url}/lookup", query: { phone: "{{ event.calling_number }}" }, retry_delay: 50ms }
      - { name: Notify, method: POST, url: "${receiver.url}/notify", body: { seen: "{{ app_data.lookup.data.n }}" }, retry_delay: 50ms }
`;
    const configPath = writeTemp(tempDir('redis-restart'), 'policies.yaml', yaml);
    const port = await freePort();
    const env = {
      REDIS_URL: redis.url, CALLHOOK_PREFIX: uniquePrefix(__filename), CALLHOOK_CONFIG: configPath,
      CALLHOOK_PORT: String(port), CALLHOOK_CONCURRENCY: '25', CALLHOOK_LOCK_DURATION: '5s',
    };
    const api = processes.cli(['api'], env);
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitHealthy(baseUrl, api);
    const workers = [processes.cli(['worker'], env), processes.cli(['worker'], env)];

    const events = Array.from({ length: CALLS }, (_, i) => makeEvent({ call_id: `rr-${i}` }));
    const ids = events.map((e) => e.call_id);
    const posting = postAll(baseUrl, events, { batch: 10, parallel: 2, timeoutMs: 2_000, deadlineMs: 90_000, pauseMs: 60 });
    const t0 = Date.now();

    // Stop Redis once work is flowing, keep it down a while, start it again on the same files.
    while (receiver.deliveries.length < 300) await sleep(10);
    const down = Date.now();
    await redis.stop();
    const deliveredWhileDown = receiver.deliveries.length;
    await sleep(2500);
    await redis.start();
    const outageMs = Date.now() - down;

    const { accepted, retried, duplicates } = await posting;
    const postedMs = Date.now() - t0;
    const store = connect(redis.url);
    try {
      const acceptedIds = ids.filter((id) => accepted.has(id));
      const final = await waitAllFinal(store, env.CALLHOOK_PREFIX, acceptedIds, 90_000);
      const finalMs = Date.now() - t0;
      let open = await openJobs(redis.url, env.CALLHOOK_PREFIX);
      for (let i = 0; i < 40 && open > 0; i++) open = await sleep(250).then(() => openJobs(redis.url, env.CALLHOOK_PREFIX));
      const ready = await fetch(`${baseUrl}/readyz`).then((r) => r.status);
      const t = tally(receiver, ids, final, { mustSucceed: SLUGS });
      report(
        `Redis restart mid-run: ${tallyLine(t)}, accepted ${accepted.size}, producer retries ${retried} (${duplicates} answered duplicate), ` +
          `outage ${outageMs} ms (${deliveredWhileDown} deliveries before), jobs left ${open}, processes alive ${[api, ...workers].filter((p) => p.exitCode === null).length}/3, posted in ${postedMs} ms, all final at ${finalMs} ms`,
      );

      expect(accepted.size).toBe(CALLS);
      expect(t).toMatchObject({ lost: 0, resentAfterSuccess: 0, stuck: 0 });
      expect(open).toBe(0);
      expect(ready).toBe(200);
      for (const p of [api, ...workers]) expect(p.exitCode).toBeNull();
    } finally {
      store.disconnect();
      for (const p of [api, ...workers]) p.kill('SIGTERM');
      await Promise.all([api, ...workers].map((p) => exited(p)));
    }
  });
});

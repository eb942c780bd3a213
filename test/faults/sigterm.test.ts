import { makeEvent } from '../helpers/events';
import type { startHarness } from '../helpers/harness';
import { exited } from '../helpers/processes';
import { redisUrl } from '../helpers/redis';
import { connect, openJobs, postAll, Processes, report, startFaultCase, statuses, tally, tallyLine, waitAllFinal } from './support/cluster';
import { hashUnit, LedgerReceiver, sleep } from './support/ledger';

const CALLS = 1500;
const SLUGS = ['one', 'two', 'three'];

/**
 * SIGTERM to a worker process under load: it stops taking calls, finishes every call it had
 * started (all of its apps) and exits 0; a restarted worker runs the rest. Counted from the
 * receiver: no call lost, no app sent twice (not even one in flight: a graceful stop has no
 * reason to repeat anything), nothing left running.
 */
describe('fault: SIGTERM during load', () => {
  const processes = new Processes();
  // Slow enough that a worker with 50 slots always has calls half-way through their apps.
  const receiver = new LedgerReceiver((d) => ({ delayMs: 40 + Math.floor(hashUnit(d.key) * 120) }));
  let h: Awaited<ReturnType<typeof startHarness>>;
  let env: Record<string, string>;

  beforeAll(async () => {
    ({ h, env } = await startFaultCase(__filename, 'sigterm', receiver, (url) => `
policies:
  - id: default
    apps:
      - { name: One, url: "${url}/one" }
      - { name: Two, method: POST, url: "${url}/two", body: { one: "{{ app_data.one.data.n }}" } }
      - { name: Three, url: "${url}/three" }
`, { CALLHOOK_CONCURRENCY: '50', CALLHOOK_SHUTDOWN_TIMEOUT: '60s' }));
  });

  afterAll(async () => {
    await processes.stopAll();
    await h?.stop();
    await receiver.stop();
  });

  it('finishes the calls in flight, exits 0, and a restarted worker runs the rest', async () => {
    const events = Array.from({ length: CALLS }, (_, i) => makeEvent({ call_id: `term-${i}-${h.prefix.slice(-8)}` }));
    const ids = events.map((e) => e.call_id);
    const { accepted } = await postAll(h.baseUrl, events);
    expect(accepted.size).toBe(CALLS);
    const redis = connect(redisUrl());
    const first = processes.cli(['worker'], env);
    let successor: ReturnType<typeof processes.cli> | undefined;
    try {
      while (receiver.deliveries.length < 600) {
        if (first.exitCode !== null) throw new Error(`worker exited early: ${first.output()}`);
        await sleep(10);
      }
      // Calls the receiver has seen at least one app of, but not all three: in flight.
      const callOf = (key: string) => key.slice(0, key.lastIndexOf('.'));
      const touched = new Set(receiver.deliveries.map((d) => callOf(d.key)));
      const inFlight = [...touched].filter((id) => SLUGS.some((slug) => !receiver.succeeded(`${id}.${slug}`)));
      const termAt = Date.now();
      first.kill('SIGTERM');
      const code = await exited(first);
      const exitAt = Date.now();
      const deliveredAtExit = receiver.deliveries.length;

      const afterStop = await statuses(redis, h.prefix, ids);
      const unfinished = inFlight.filter((id) => afterStop.get(id) !== 'completed' || SLUGS.some((slug) => !receiver.succeeded(`${id}.${slug}`)));
      const running = [...afterStop.values()].filter((s) => s === 'running').length;
      await sleep(500);
      const lateDeliveries = receiver.deliveries.length - deliveredAtExit;

      successor = processes.cli(['worker'], env);
      const final = await waitAllFinal(redis, h.prefix, ids, 90_000);
      let open = await openJobs(redisUrl(), h.prefix);
      for (let i = 0; i < 40 && open > 0; i++) open = await sleep(250).then(() => openJobs(redisUrl(), h.prefix));
      const t = tally(receiver, ids, final, { mustSucceed: SLUGS });
      report(
        `SIGTERM during load: ${tallyLine(t)}, exit code ${code} after ${exitAt - termAt} ms, ${inFlight.length} calls in flight at SIGTERM, ` +
          `unfinished at exit ${unfinished.length}, left running ${running}, requests after exit ${lateDeliveries}, jobs left ${open}`,
      );

      expect(code).toBe(0);
      expect(inFlight.length).toBeGreaterThan(0);
      expect(unfinished).toEqual([]);
      expect(running).toBe(0);
      expect(lateDeliveries).toBe(0);
      expect(t).toMatchObject({ lost: 0, resentAfterSuccess: 0, stuck: 0, duplicatesInFlight: 0 });
      expect(open).toBe(0);
    } finally {
      redis.disconnect();
      successor?.kill('SIGTERM');
      if (successor) await exited(successor);
    }
  });
});

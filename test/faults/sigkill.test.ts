import { makeEvent } from '../helpers/events';
import type { startHarness } from '../helpers/harness';
import { exited } from '../helpers/processes';
import { redisUrl } from '../helpers/redis';
import { connect, openJobs, postAll, Processes, report, startFaultCase, tally, tallyLine, TAKEOVER_BOUND_MS, waitAllFinal } from './support/cluster';
import { hashUnit, LedgerReceiver, sleep } from './support/ledger';

const CALLS = 2000;
const SLUGS = ['first', 'second', 'third'];

/**
 * Workers killed with SIGKILL while 2,000 calls are in flight, twice, each time replaced by a
 * new worker process. The receiver is paused a moment before each kill so no 2xx answer is in
 * transit when the worker dies: every request made after a 2xx answer to its key is then a
 * re-send of an app callhook had recorded as succeeded (what must never happen), and every
 * other repeat is an app that was in flight when its worker died.
 */
describe('fault: SIGKILL mid-run', () => {
  const processes = new Processes();
  const receiver = new LedgerReceiver((d) => ({ delayMs: 2 + Math.floor(hashUnit(d.key) * 20) }));
  let h: Awaited<ReturnType<typeof startHarness>>;
  let env: Record<string, string>;

  beforeAll(async () => {
    ({ h, env } = await startFaultCase(__filename, 'sigkill', receiver, (url) => `
policies:
  - id: default
    apps:
      - { name: First, url: "${url}/first", retry_delay: 50ms }
      - { name: Second, method: POST, url: "${url}/second", body: { first: "{{ app_data.first.data.n }}" }, retry_delay: 50ms }
      - { name: Third, url: "${url}/third/{{ app_data.second.data.n }}", retry_delay: 50ms }
`, { CALLHOOK_CONCURRENCY: '50' })); // the default lock settings: what a deployment gets
  });

  afterAll(async () => {
    await processes.stopAll();
    await h?.stop();
    await receiver.stop();
  });

  it('loses no call and re-sends no succeeded app when workers die with SIGKILL mid-run', async () => {
    const events = Array.from({ length: CALLS }, (_, i) => makeEvent({ call_id: `kill-${i}-${h.prefix.slice(-8)}` }));
    const ids = events.map((e) => e.call_id);
    const { accepted } = await postAll(h.baseUrl, events);
    expect(accepted.size).toBe(CALLS);

    const inFlightAtKill: number[] = [];
    const kills: { at: number; keys: Set<string> }[] = [];
    const killAfter = async (deliveries: number) => {
      const doomed = processes.cli(['worker'], env);
      const deadline = Date.now() + 60_000;
      while (receiver.deliveries.length < deliveries) {
        if (doomed.exitCode !== null) throw new Error(`worker exited early: ${doomed.output()}`);
        if (Date.now() > deadline) throw new Error(`only ${receiver.deliveries.length} deliveries`);
        await sleep(10);
      }
      receiver.hold();
      await receiver.quiet(300);
      inFlightAtKill.push(receiver.heldCount);
      const at = Date.now();
      kills.push({ at, keys: new Set(receiver.deliveries.filter((d) => d.answeredAt === undefined && !d.aborted).map((d) => d.key)) });
      doomed.kill('SIGKILL');
      await exited(doomed);
      await sleep(300); // let the receiver see the dead worker's sockets close
      receiver.release();
    };
    await killAfter(CALLS * 0.75);
    await killAfter(CALLS * 1.75);

    const started = Date.now();
    const successor = processes.cli(['worker'], env);
    const redis = connect(redisUrl());
    try {
      const final = await waitAllFinal(redis, h.prefix, ids, 90_000);
      let open = await openJobs(redisUrl(), h.prefix);
      for (let i = 0; i < 40 && open > 0; i++) open = await sleep(250).then(() => openJobs(redisUrl(), h.prefix));
      const t = tally(receiver, ids, final, { mustSucceed: SLUGS });
      // Takeover: from the kill to another worker re-sending each app the dead one had in flight.
      const takeovers = kills.map(({ at, keys }) =>
        [...keys].map((key) => (receiver.attempts(key).find((d) => d.arrivedAt > at)?.arrivedAt ?? Infinity) - at),
      );
      const slowest = Math.max(...takeovers.flat());
      report(
        `SIGKILL mid-run: ${tallyLine(t)}, apps in flight at the 2 kills ${inFlightAtKill.join('+')}, jobs left ${open}, successor finished in ${Date.now() - started} ms, ` +
          `takeover of a dead worker's calls (default lock settings) ${takeovers.map((list) => `${Math.min(...list)}-${Math.max(...list)} ms`).join(' and ')}`,
      );
      expect(slowest).toBeLessThan(TAKEOVER_BOUND_MS);

      expect(t).toMatchObject({ lost: 0, resentAfterSuccess: 0, stuck: 0 });
      expect(open).toBe(0);
      expect(inFlightAtKill.every((n) => n > 0)).toBe(true);
      expect([...final.values()].every((s) => s === 'completed')).toBe(true);

      // Each later app saw the answer the receiver gave to the earlier app's one successful request.
      const firstN = new Map<string, number>();
      for (const d of receiver.deliveries) if (d.path === '/first' && d.status === 200 && d.answeredAt) firstN.set(d.key.split('.')[0] ?? '', d.n);
      const mismatched = receiver.deliveries.filter((d) => d.path === '/second' && JSON.parse(d.body).first !== firstN.get(d.key.split('.')[0] ?? ''));
      expect(mismatched).toHaveLength(0);
    } finally {
      redis.disconnect();
      successor.kill('SIGTERM');
      await exited(successor);
    }
  });
});

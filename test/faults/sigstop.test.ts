import { makeEvent } from '../helpers/events';
import type { startHarness } from '../helpers/harness';
import { exited } from '../helpers/processes';
import { redisUrl } from '../helpers/redis';
import { connect, openJobs, postAll, Processes, report, startFaultCase, TAKEOVER_BOUND_MS, waitAllFinal, waitWorkerStarted } from './support/cluster';
import { LedgerReceiver, sleep } from './support/ledger';

const CALLS = 20;

/**
 * A worker frozen with SIGSTOP (a long GC pause, a VM stall) while its calls' requests are in
 * flight, with the default lock settings:
 * - frozen past its lock, another worker takes the calls over and finishes them; when the frozen
 *   one wakes up, its writes are refused (fencing by the BullMQ lock token), so it can neither
 *   overwrite the new results nor send the next app;
 * - frozen for 5 s, under the lock's margin, nobody takes anything over (no false stall).
 */
describe('fault: SIGSTOP of a worker', () => {
  const processes = new Processes();
  const receiver = new LedgerReceiver();
  let h: Awaited<ReturnType<typeof startHarness>>;
  let env: Record<string, string>;

  beforeAll(async () => {
    ({ h, env } = await startFaultCase(__filename, 'sigstop', receiver, (url) => `
policies:
  - id: default
    apps:
      - { name: First, url: "${url}/first", retry_delay: 50ms }
      - { name: Second, method: POST, url: "${url}/second", body: { first: "{{ app_data.first.data.n }}" }, retry_delay: 50ms }
`, {}));
  });
  afterAll(async () => {
    await processes.stopAll();
    await h?.stop();
    await receiver.stop();
  });

  /** Posts CALLS calls, runs them on a fresh worker and holds their first requests; resolves once all are held. */
  async function heldOnOneWorker(tag: string) {
    const ids = Array.from({ length: CALLS }, (_, i) => `${tag}-${i}-${h.prefix.slice(-6)}`);
    receiver.hold();
    const worker = processes.cli(['worker'], env);
    await postAll(h.baseUrl, ids.map((call_id) => makeEvent({ call_id })));
    const deadline = Date.now() + 30_000;
    while (receiver.heldCount < CALLS) {
      if (Date.now() > deadline) throw new Error(`only ${receiver.heldCount} requests held: ${worker.output()}`);
      await sleep(20);
    }
    return { ids, worker };
  }

  const records = async (ids: string[]) => {
    const redis = connect(redisUrl());
    try {
      return await Promise.all(ids.map((id) => redis.hgetall(`${h.prefix}:call:${id}`)));
    } finally {
      redis.disconnect();
    }
  };

  it('frozen past its lock: another worker takes over, and the woken worker\'s writes are refused', async () => {
    const { ids, worker: frozen } = await heldOnOneWorker('fence');
    // Already running, as the other workers of a deployment are: the takeover is timed, not its start.
    const successor = processes.cli(['worker'], { ...env, LOG_LEVEL: 'info' });
    await waitWorkerStarted(successor);
    frozen.kill('SIGSTOP');
    const stoppedAt = Date.now();
    receiver.release(); // the frozen worker's answers wait in its socket buffers
    const redis = connect(redisUrl());
    const final = await waitAllFinal(redis, h.prefix, ids, 60_000);
    redis.disconnect();
    const retakes = ids.map((id) => receiver.attempts(`${id}.first`).find((d) => d.arrivedAt > stoppedAt)?.arrivedAt ?? Infinity);
    const firstTakeover = Math.min(...retakes) - stoppedAt;
    const lastTakeover = Math.max(...retakes) - stoppedAt;
    const before = await records(ids);

    frozen.kill('SIGCONT');
    await sleep(4000); // the woken worker reads its answers and tries to record them
    const after = await records(ids);
    const secondSends = ids.map((id) => receiver.attempts(`${id}.second`).length);
    const overwritten = after.filter((record, i) => JSON.stringify(record) !== JSON.stringify(before[i])).length;
    // Every first result is the successor's: the answer to the request it sent after the takeover.
    const successorsAnswer = ids.filter((id, i) => JSON.parse(after[i]!['r:first'] ?? '{}').data?.n === receiver.attempts(`${id}.first`).at(-1)?.n).length;
    report(`SIGSTOP past the lock: ${CALLS} calls, taken over after ${firstTakeover}-${lastTakeover} ms, final ${[...final.values()].filter((s) => s === 'completed').length} completed, records changed after SIGCONT ${overwritten}, first results from the successor ${successorsAnswer}, /second sent per call ${[...new Set(secondSends)].join(',')}, frozen worker alive ${frozen.exitCode === null}`);

    expect([...final.values()].every((s) => s === 'completed')).toBe(true);
    expect(lastTakeover).toBeLessThan(TAKEOVER_BOUND_MS);
    expect(overwritten).toBe(0);
    expect(successorsAnswer).toBe(CALLS);
    expect(secondSends.every((n) => n === 1)).toBe(true);
    expect(await openJobs(redisUrl(), h.prefix)).toBe(0);
    for (const child of [frozen, successor]) {
      child.kill('SIGTERM');
      await exited(child);
    }
  });

  it('frozen for 5 s, within the lock\'s margin: no other worker takes its calls', async () => {
    const { ids, worker: paused } = await heldOnOneWorker('pause');
    const other = processes.cli(['worker'], env);
    paused.kill('SIGSTOP');
    await sleep(5000);
    paused.kill('SIGCONT');
    receiver.release();
    const redis = connect(redisUrl());
    const final = await waitAllFinal(redis, h.prefix, ids, 60_000);
    redis.disconnect();
    const firstSends = ids.map((id) => receiver.attempts(`${id}.first`).length);
    report(`SIGSTOP for 5 s: ${CALLS} calls, ${[...final.values()].filter((s) => s === 'completed').length} completed, /first sent per call ${[...new Set(firstSends)].join(',')} (1 = no false stall)`);
    expect([...final.values()].every((s) => s === 'completed')).toBe(true);
    expect(firstSends.every((n) => n === 1)).toBe(true);
    for (const child of [paused, other]) {
      child.kill('SIGTERM');
      await exited(child);
    }
  });
});

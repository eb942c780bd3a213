import type { ChildProcess } from 'node:child_process';
import { makeEvent } from '../helpers/events';
import type { startHarness } from '../helpers/harness';
import { exited } from '../helpers/processes';
import { redisUrl } from '../helpers/redis';
import { connect, postAll, Processes, report, startFaultCase, waitAllFinal } from './support/cluster';
import { LedgerReceiver, sleep } from './support/ledger';

const CALLS = 10_000;

/** Complete NDJSON lines a process wrote, as they arrive (a line cut by a kill is dropped). */
function lines(child: ChildProcess): { ids: string[]; calls: string[] } {
  const seen = { ids: [] as string[], calls: [] as string[] };
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      const entry = JSON.parse(line) as { id: string; call: { call_id: string } };
      seen.ids.push(entry.id);
      seen.calls.push(entry.call.call_id);
    }
  });
  return seen;
}

/**
 * The results feed under load: 10,000 calls through a real worker, read live by a follower and
 * shared by two consumers of one group, one of which is SIGKILLed mid-run while its output is
 * blocked (so it holds entries it read but never wrote out).
 */
describe('fault: results feed', () => {
  const processes = new Processes();
  const receiver = new LedgerReceiver();
  let h: Awaited<ReturnType<typeof startHarness>>;
  let env: Record<string, string>;

  beforeAll(async () => {
    ({ h, env } = await startFaultCase(__filename, 'feed', receiver, (url) => `
policies:
  - id: default
    apps:
      - { name: Hook, url: "${url}/hook" }
`, { CALLHOOK_CONCURRENCY: '50' }));
  });
  afterAll(async () => {
    await processes.stopAll();
    await h?.stop();
    await receiver.stop();
  });

  it('holds exactly one entry per call in finish order; a follower sees them live; a group splits them across a SIGKILL', async () => {
    const follower = processes.cli(['results', '--follow'], env);
    const a = processes.cli(['results', '--group', 'analytics', '--consumer', 'a', '--follow', '--claim-idle', '2s'], env);
    const b = processes.cli(['results', '--group', 'analytics', '--consumer', 'b', '--follow', '--claim-idle', '2s'], env);
    const [followed, byA, byB] = [lines(follower), lines(a), lines(b)];
    await sleep(1500); // the group exists before the first call finishes
    const worker = processes.cli(['worker'], env);
    const events = Array.from({ length: CALLS }, (_, i) => makeEvent({ call_id: `feed-${i}-${h.prefix.slice(-6)}` }));
    const posting = postAll(h.baseUrl, events, { parallel: 2 });

    // Consumer a stops reading its output, blocks on it holding unwritten entries, and is killed.
    while (byA.ids.length < 1500) await sleep(20);
    a.stdout!.pause();
    await sleep(1500);
    const pendingAtKill = Number(((await connect(redisUrl()).xpending(`${h.prefix}:results`, 'analytics')) as [number])[0]);
    a.kill('SIGKILL');
    await exited(a);
    a.stdout!.resume();

    await posting;
    const redis = connect(redisUrl());
    const final = await waitAllFinal(redis, h.prefix, events.map((e) => e.call_id), 120_000);
    const deadline = Date.now() + 60_000;
    while ((byA.ids.length + byB.ids.length < CALLS || followed.ids.length < CALLS) && Date.now() < deadline) await sleep(100);
    const stream = await redis.xrange(`${h.prefix}:results`, '-', '+');
    const finishedAt = stream.map(([, fields]) => Date.parse((JSON.parse(fields[fields.indexOf('call') + 1]!) as { finished_at: string }).finished_at));
    const outOfOrder = finishedAt.filter((t, i) => i > 0 && t < finishedAt[i - 1]!).length;
    const pendingAfter = Number(((await redis.xpending(`${h.prefix}:results`, 'analytics')) as [number])[0]);
    redis.disconnect();

    const split = [...byA.calls, ...byB.calls];
    const doubled = split.length - new Set(split).size;
    const missing = events.filter((e) => !new Set(split).has(e.call_id)).length;
    report(
      `results feed: ${CALLS} calls, ${[...final.values()].filter((s) => s === 'completed').length} completed, stream entries ${stream.length}, out of finish order ${outOfOrder}, ` +
        `follower saw ${new Set(followed.calls).size}; group: a wrote ${byA.calls.length} before its SIGKILL (${pendingAtKill} pending in the group then), b wrote ${byB.calls.length}, lost ${missing}, doubled ${doubled}, pending after ${pendingAfter}`,
    );
    expect(stream).toHaveLength(CALLS);
    expect(outOfOrder).toBe(0);
    expect(new Set(followed.calls).size).toBe(CALLS);
    expect(missing).toBe(0);
    expect(doubled).toBe(0);
    expect(pendingAfter).toBe(0);
    for (const child of [follower, b, worker]) {
      child.kill('SIGTERM');
      await exited(child);
    }
  });
});

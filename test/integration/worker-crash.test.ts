import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serializeEvent } from '../../src/events/schema';
import { jobIdFor, QUEUE_NAME } from '../../src/queue/calls-queue';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { exited, spawnCli } from '../helpers/processes';
import { redisUrl } from '../helpers/redis';
import { Receiver } from '../helpers/receiver';

describe('a worker killed with SIGKILL mid-policy', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  let configPath: string;
  const policies = () => `
policies:
  - id: default
    apps:
      - { name: First, url: "${receiver.url}/first" }
      - { name: Second, url: "${receiver.url}/second" }
      - { name: Third, url: "${receiver.url}/third", body: { first: "{{ app_data.first.data.n }}" }, method: POST }
`;

  beforeAll(async () => {
    receiver = await new Receiver().start();
    configPath = join(mkdtempSync(join(tmpdir(), 'callhook-crash-')), 'policies.yaml');
    writeFileSync(configPath, policies());
    h = await startHarness(__filename, policies(), { worker: false });
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  it('is replaced by a new worker that finishes every call without re-sending the apps that succeeded', async () => {
    let n = 0;
    receiver.on('/first', () => ({ status: 200, body: { n: ++n } }));
    receiver.on('/second', () => ({ hang: true }));
    const env = { REDIS_URL: redisUrl(), CALLHOOK_PREFIX: h.prefix, CALLHOOK_CONFIG: configPath, CALLHOOK_LOCK_DURATION: '1500ms' };

    const doomed = spawnCli(['worker'], env);
    const events = Array.from({ length: 10 }, () => makeEvent());
    await h.post(events);
    await receiver.waitFor(10, '/second');
    doomed.kill('SIGKILL');
    await exited(doomed);

    receiver.on('/second', () => ({ status: 200, body: { ok: true } }));
    const successor = spawnCli(['worker'], env);
    try {
      for (const event of events) {
        const record = await h.waitForCall(event.call_id, 30_000);
        expect(record.status).toBe('completed');
        expect(record.app_data.third?.status).toBe('success');
      }
    } finally {
      successor.kill('SIGTERM');
      await exited(successor);
    }

    const keys = (path: string) => receiver.to(path).map((r) => r.headers['idempotency-key']);
    for (const event of events) {
      expect(keys('/first').filter((k) => k === `${event.call_id}.first`)).toHaveLength(1);
      expect(keys('/third').filter((k) => k === `${event.call_id}.third`)).toHaveLength(1);
    }
    // Second was in flight when the worker died: sent again, as it had not succeeded.
    expect(receiver.to('/second').length).toBe(20);
    const firstValues = new Set(receiver.to('/third').map((r) => (r.json as { first: number }).first));
    expect(firstValues.size).toBe(10);
  });
});

describe('a worker killed after it finished a call, before BullMQ heard of it', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  let configPath: string;

  beforeAll(async () => {
    receiver = await new Receiver().start();
    const yaml = `policies: [{ id: default, apps: [{ name: Only, url: "${receiver.url}/only" }] }]`;
    configPath = join(mkdtempSync(join(tmpdir(), 'callhook-crash-')), 'policies.yaml');
    writeFileSync(configPath, yaml);
    h = await startHarness(__filename, yaml, { worker: false });
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  it('has its job completed by the next worker with nothing sent or written again: one final status, one feed entry', async () => {
    const event = makeEvent();
    const { store, queue, redis } = h.runtime;
    // What the dead worker left: the call final (its feed entry written), its job still in the
    // queue as BullMQ redelivers it (a later start, which loads the record).
    await store.markQueued([serializeEvent(event)]);
    const state = (await store.startRun(event.call_id))!;
    await store.checkpoint(event.call_id, 'default', undefined, state.snapshot).finish('completed');
    const before = await store.get(event.call_id);
    await queue.add(QUEUE_NAME, { call_id: event.call_id }, { jobId: jobIdFor(event.call_id) });

    const env = { REDIS_URL: redisUrl(), CALLHOOK_PREFIX: h.prefix, CALLHOOK_CONFIG: configPath };
    const worker = spawnCli(['worker'], env);
    try {
      for (let i = 0; ; i++) {
        const counts = await queue.getJobCounts('waiting', 'active');
        if (counts.waiting === 0 && counts.active === 0) break;
        if (i > 300) throw new Error('the job was not completed');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      worker.kill('SIGTERM');
      await exited(worker);
    }
    expect(receiver.to('/only')).toHaveLength(0);
    expect(await store.get(event.call_id)).toEqual(before);
    const entries = (await redis.xrange(`${h.prefix}:results`, '-', '+')) as [string, string[]][];
    expect(entries.filter(([, fields]) => fields[fields.indexOf('call_id') + 1] === event.call_id)).toHaveLength(1);
    // A second finish of the final call (a stale worker's) changes nothing either.
    await store.checkpoint(event.call_id, 'default').finish('failed');
    expect(await store.get(event.call_id)).toEqual(before);
    expect(await redis.xlen(`${h.prefix}:results`)).toBe(entries.length);
  });
});

describe('a call BullMQ gives up on', () => {
  let h: Awaited<ReturnType<typeof startHarness>>;
  beforeAll(async () => {
    h = await startHarness(__filename, 'policies: [{ id: default, apps: [{ name: Only, url: "http://127.0.0.1:9/x" }] }]');
  });
  afterAll(() => h.stop());

  it('is recorded partial when an app had succeeded, failed otherwise, and fed once', async () => {
    const { store, queue, redis } = h.runtime;
    const [succeeded, none] = [makeEvent(), makeEvent()];
    // At 0 from the start: increase() cannot count a first give-up whose series appears at 1.
    expect(await h.runtime.metrics.text()).toMatch(/^callhook_calls_given_up_total 0$/m);
    await store.markQueued([succeeded, none].map(serializeEvent));
    const success = { status: 'success', http_status: 200, data: null, message: 'OK', attempts: 1, duration_ms: 1, unresolved: [], error: null, attempts_log: [], request: null };
    await redis.hset(store.key(succeeded.call_id), 'r:earlier', JSON.stringify(success));
    // A job its run cannot read (as after a bug): its one attempt throws.
    for (const event of [succeeded, none]) {
      const fresh = { event: '{not json', queued_at: new Date().toISOString() };
      await queue.add(QUEUE_NAME, { call_id: event.call_id, fresh }, { jobId: jobIdFor(event.call_id), attempts: 1 });
    }
    expect((await h.waitForCall(succeeded.call_id)).status).toBe('partial');
    expect((await h.waitForCall(none.call_id)).status).toBe('failed');
    const entries = (await redis.xrange(`${h.prefix}:results`, '-', '+')) as [string, string[]][];
    expect(entries.map(([, fields]) => fields[fields.indexOf('call_id') + 1]).sort()).toEqual([succeeded.call_id, none.call_id].sort());
    // Counted as finished, as every call that reaches a final status is (the failure ratio alert reads it).
    const metrics = await h.runtime.metrics.text();
    expect(metrics).toMatch(/^callhook_calls_finished_total\{status="partial"\} 1$/m);
    expect(metrics).toMatch(/^callhook_calls_finished_total\{status="failed"\} 1$/m);
    // And counted as given up, for CallhookCallsGivenUp (the queue's failed jobs are trimmed and replayed away).
    expect(metrics).toMatch(/^callhook_calls_given_up_total 2$/m);
  });
});

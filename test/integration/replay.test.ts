import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnrecoverableError, Worker } from 'bullmq';
import { serializeEvent } from '../../src/events/schema';
import { jobIdFor, QUEUE_NAME } from '../../src/queue/calls-queue';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { exited, spawnCli } from '../helpers/processes';
import { redisUrl } from '../helpers/redis';
import { Receiver } from '../helpers/receiver';

describe('replaying failed calls', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  let yaml: string;

  beforeAll(async () => {
    receiver = await new Receiver().start();
    yaml = `
policies:
  - id: default
    apps:
      - { name: First, url: "${receiver.url}/first" }
      - { name: Second, url: "${receiver.url}/second", on_failure: stop }
      - { name: Third, method: POST, url: "${receiver.url}/third", body: { second: "{{ app_data.second.data.n }}" } }
  - id: realtime
    apps:
      - { name: Lookup, phase: real_time, url: "${receiver.url}/lookup", retry_count: 0 }
      - { name: Notify, url: "${receiver.url}/notify" }
  - id: quiet
    apps:
      - { name: Ping, url: "${receiver.url}/ping" }
      - { name: Vip, url: "${receiver.url}/vip", when: "{{ event.vip }}" }
`;
    h = await startHarness(__filename, yaml);
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  it('re-sends only the failed app and the ones after it, keeping the first result', async () => {
    receiver.on('/second', () => ({ status: 400, body: { error: 'bad' } }));
    const event = makeEvent();
    await h.post(event);
    const failed = await h.waitForCall(event.call_id);
    expect(failed.status).toBe('partial');
    expect(failed.app_data.third?.status).toBe('skipped');
    const firstResult = failed.app_data.first;

    receiver.on('/second', () => ({ status: 200, body: { n: 7 } }));
    const replay = await h.request('POST', `/v1/calls/${event.call_id}/replay`);
    expect(replay).toEqual({ status: 202, body: { call_id: event.call_id, status: 'queued', replayed: ['second', 'third'] } });
    const done = await h.waitForCall(event.call_id);
    expect(done.status).toBe('completed');
    expect(done.app_data.first).toEqual(firstResult);
    expect(done.app_data.second).toMatchObject({ status: 'success', data: { n: 7 } });

    const sent = (path: string) => receiver.to(path).filter((r) => r.headers['idempotency-key']?.toString().startsWith(event.call_id));
    expect(sent('/first')).toHaveLength(1);
    expect(sent('/second')).toHaveLength(2);
    expect(sent('/third').map((r) => r.json)).toEqual([{ second: 7 }]);
  });

  it('gives a job to a call left queued without one (its producer or replay died between the two writes), and only then', async () => {
    receiver.on('/second', () => ({ status: 200, body: { n: 1 } }));
    const event = makeEvent();
    await h.runtime.store.markQueued([serializeEvent(event)]); // marked, but no job added
    const refused = await h.request('POST', `/v1/calls/${event.call_id}/replay`);
    expect(refused.status).toBe(409); // its job may be a few ms away
    await h.runtime.redis.zadd(`${h.prefix}:idx:status:queued`, Date.now() - 120_000, event.call_id); // queued two minutes ago
    const replay = await h.request('POST', `/v1/calls/${event.call_id}/replay`);
    // It has no policy on record yet: the answer names the apps its run will send, of the policy it resolves to.
    expect(replay).toEqual({ status: 202, body: { call_id: event.call_id, status: 'queued', replayed: ['first', 'second', 'third'] } });
    expect((await h.waitForCall(event.call_id)).status).toBe('completed');
    for (const slug of ['first', 'second', 'third']) expect(receiver.to(`/${slug}`).filter((r) => r.headers['idempotency-key'] === `${event.call_id}.${slug}`)).toHaveLength(1);
  });

  it('does not give a job to a call that is running real-time apps only (it was never queued)', async () => {
    const event = makeEvent({ policy: 'realtime' });
    await h.runtime.store.claimRealtime(event); // its real-time apps run: no index entry, no job
    const replay = await h.request('POST', `/v1/calls/${event.call_id}/replay`);
    expect(replay.status).toBe(409);
    expect(await h.runtime.queue.getJob(jobIdFor(event.call_id))).toBeUndefined();
  });

  it('is atomic: of six concurrent replays exactly one is queued, and no app that succeeded is sent again', async () => {
    receiver.on('/second', () => ({ status: 400, body: { error: 'bad' } }));
    const event = makeEvent();
    await h.post(event);
    await h.waitForCall(event.call_id);
    receiver.on('/second', () => ({ status: 200, body: { n: 8 } }));
    const sentBefore = (path: string) => receiver.requests.filter((r) => r.url === path && r.headers['idempotency-key'] === `${event.call_id}${path.replace('/', '.')}`).length;
    const firstBefore = sentBefore('/first');
    const answers = await Promise.all(Array.from({ length: 6 }, () => h.request('POST', `/v1/calls/${event.call_id}/replay`)));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([202, 409, 409, 409, 409, 409]);
    for (const refused of answers.filter((a) => a.status === 409)) expect(refused.body.error.code).toBe('CALLHOOK_REPLAY_CONFLICT');
    expect((await h.waitForCall(event.call_id)).status).toBe('completed');
    await new Promise((r) => setTimeout(r, 300)); // a second run, if one had been queued, would show by now
    expect(sentBefore('/first')).toBe(firstBefore);
    expect(sentBefore('/second')).toBe(2); // the failed attempt and the one replay
    expect(sentBefore('/third')).toBe(1);
  });

  it('refuses a call that ran real-time apps only: it has no post-call run, and sends nothing', async () => {
    receiver.on('/lookup', () => ({ status: 503 }));
    const event = makeEvent({ policy: 'realtime' });
    expect((await h.request('POST', '/v1/realtime', event)).body.app_data.lookup.status).toBe('failed');
    expect((await h.get(event.call_id))?.status).toBe('failed');
    const replay = await h.request('POST', `/v1/calls/${event.call_id}/replay`);
    expect(replay).toMatchObject({ status: 409, body: { error: { code: 'CALLHOOK_REPLAY_CONFLICT', message: expect.stringContaining('real-time apps only') } } });
    await new Promise((r) => setTimeout(r, 200));
    expect(receiver.to('/notify')).toHaveLength(0);
    expect((await h.get(event.call_id))?.status).toBe('failed');
  });

  it('refuses an unknown call, a completed one with nothing to replay', async () => {
    expect(await h.request('POST', '/v1/calls/nope/replay')).toMatchObject({ status: 404, body: { error: { code: 'CALLHOOK_CALL_NOT_FOUND' } } });
    receiver.on('/second', () => ({ status: 200 }));
    const event = makeEvent();
    await h.post(event);
    await h.waitForCall(event.call_id);
    expect(await h.request('POST', `/v1/calls/${event.call_id}/replay`)).toMatchObject({ status: 409, body: { error: { code: 'CALLHOOK_REPLAY_CONFLICT' } } });
  });

  it('refuses a completed call, one with an app its `when` skipped too: it stays completed, with one feed entry', async () => {
    const event = makeEvent({ policy: 'quiet' });
    await h.post(event);
    const done = await h.waitForCall(event.call_id);
    expect(done).toMatchObject({ status: 'completed', app_data: { ping: { status: 'success' }, vip: { status: 'skipped' } } });
    const replay = await h.request('POST', `/v1/calls/${event.call_id}/replay`);
    expect(replay).toMatchObject({ status: 409, body: { error: { code: 'CALLHOOK_REPLAY_CONFLICT', message: expect.stringContaining(`call ${event.call_id} is completed; only failed, partial or unmatched calls can be replayed`) } } });
    await new Promise((r) => setTimeout(r, 300)); // a replay, had one been queued, would have run by now
    expect(await h.get(event.call_id)).toEqual(done);
    const entries = (await h.runtime.redis.xrange(h.runtime.feed.key, '-', '+')) as [string, string[]][];
    expect(entries.filter(([, fields]) => fields[1] === event.call_id)).toHaveLength(1);
    expect(receiver.to('/vip')).toHaveLength(0);
  });

  it('a call whose policy the loaded policies file lacks is refused saying so, not "nothing to replay"', async () => {
    receiver.on('/second', () => ({ status: 400 }));
    const event = makeEvent();
    await h.post(event);
    expect((await h.waitForCall(event.call_id)).status).toBe('partial');
    const otherConfig = join(mkdtempSync(join(tmpdir(), 'callhook-replay-')), 'other.yaml');
    writeFileSync(otherConfig, 'policies:\n  - id: elsewhere\n    apps:\n      - { name: X, url: "http://127.0.0.1:9/x" }\n');
    const cli = spawnCli(['replay', event.call_id, '--config', otherConfig], { REDIS_URL: redisUrl(), CALLHOOK_PREFIX: h.prefix });
    expect(await exited(cli)).toBe(1);
    expect(cli.output()).toContain(`${event.call_id}: call ${event.call_id} ran policy "default", which the loaded policies do not have (${otherConfig}; name the file that has it with --config)`);
    expect((await h.get(event.call_id))?.status).toBe('partial');
  });

  /**
   * A call BullMQ gave up on before its first result (workers died on it mid-request), recorded
   * failed as the worker's 'failed' handler records it: no policy, no app results.
   */
  async function givenUp(callId: string): Promise<void> {
    await h.worker?.pause();
    const crashing = new Worker(QUEUE_NAME, async () => { throw new UnrecoverableError('the worker died on it once too often'); }, { connection: { url: redisUrl() }, prefix: h.prefix });
    try {
      await h.post(makeEvent({ call_id: callId }));
      for (let i = 0; i < 400 && (await h.runtime.queue.getJobState(jobIdFor(callId))) !== 'failed'; i++) await new Promise((r) => setTimeout(r, 25));
      expect(await h.runtime.queue.getJobState(jobIdFor(callId))).toBe('failed');
    } finally {
      await crashing.close();
      h.worker?.resume();
    }
    await h.runtime.store.checkpoint(callId, null).finish('failed');
  }

  /** givenUp, and then its record expired: BullMQ still keeps its failed job (for days, trimmed only when another job fails). */
  async function givenUpAndExpired(callId: string): Promise<void> {
    await givenUp(callId);
    // Its TTL passes: the record goes, and its index entries are older than the TTL.
    const { redis } = h.runtime;
    await redis.pexpire(`${h.prefix}:call:${callId}`, 1);
    const [seconds] = await redis.time();
    for (const index of ['all', 'status:failed']) await redis.zadd(`${h.prefix}:idx:${index}`, 'XX', Number(seconds) * 1000 - h.runtime.store.ttlMs - 1000, callId);
    await new Promise((r) => setTimeout(r, 20));
    expect(await h.get(callId)).toBeUndefined();
  }

  it('a call id sent again after its record expired runs as a new call, though BullMQ still has the job it gave up on', async () => {
    receiver.on('/second', () => ({ status: 200, body: { n: 2 } }));
    for (const callId of [`gone-${Date.now()}`, `${Date.now()}`]) { // an all-digit id has a job id of its own
      await givenUpAndExpired(callId);
      expect(await h.post(makeEvent({ call_id: callId }))).toMatchObject({ status: 202, body: { calls: [{ call_id: callId, status: 'queued' }] } });
      expect(await h.waitForCall(callId, 10_000)).toMatchObject({ status: 'completed', policy: 'default' });
      expect(receiver.to('/first').filter((r) => r.headers['idempotency-key'] === `${callId}.first`)).toHaveLength(1);
      // Sent again while it is known: a duplicate, and the job it ran is not touched.
      expect((await h.post(makeEvent({ call_id: callId }))).body.calls).toEqual([{ call_id: callId, status: 'duplicate' }]);
    }
    // The same when real-time apps made its new record before it was queued.
    receiver.on('/lookup', () => ({ status: 200, body: {} }));
    const realtime = `gone-rt-${Date.now()}`;
    await givenUpAndExpired(realtime);
    expect((await h.request('POST', '/v1/realtime', makeEvent({ call_id: realtime, policy: 'realtime' }))).status).toBe(200);
    expect((await h.post(makeEvent({ call_id: realtime, policy: 'realtime' }))).body.calls).toEqual([{ call_id: realtime, status: 'queued' }]);
    expect(await h.waitForCall(realtime, 10_000)).toMatchObject({ status: 'completed', app_data: { lookup: { status: 'success' }, notify: { status: 'success' } } });
  });

  it('replays a call BullMQ gave up on before its first result stored its policy: the policy is resolved anew and its apps run', async () => {
    receiver.on('/second', () => ({ status: 200, body: { n: 4 } }));
    const callId = `crashed-${Date.now()}`;
    await givenUp(callId);
    expect(await h.get(callId)).toMatchObject({ status: 'failed', policy: null, app_data: {} });
    expect(await h.request('POST', `/v1/calls/${callId}/replay`)).toEqual({ status: 202, body: { call_id: callId, status: 'queued', replayed: ['first', 'second', 'third'] } });
    expect(await h.waitForCall(callId, 10_000)).toMatchObject({ status: 'completed', policy: 'default' });
    for (const slug of ['first', 'second', 'third']) expect(receiver.to(`/${slug}`).filter((r) => r.headers['idempotency-key'] === `${callId}.${slug}`)).toHaveLength(1);
  });

  it('npx callhook replay refuses call ids with --failed, and --since without --failed, replaying nothing', async () => {
    receiver.on('/second', () => ({ status: 400 }));
    const events = [makeEvent(), makeEvent()];
    await h.post(events);
    for (const e of events) expect((await h.waitForCall(e.call_id)).status).toBe('partial');
    receiver.on('/second', () => ({ status: 200, body: { n: 3 } }));
    const configPath = join(mkdtempSync(join(tmpdir(), 'callhook-replay-')), 'policies.yaml');
    writeFileSync(configPath, yaml);
    const env = { REDIS_URL: redisUrl(), CALLHOOK_PREFIX: h.prefix, CALLHOOK_CONFIG: configPath };
    const [a, b] = events.map((e) => e.call_id) as [string, string];
    const refusals: [string[], RegExp][] = [
      [['replay', a, '--failed'], /^callhook: name call ids or use --failed, not both/],
      [['replay', '--failed', a, '--since', '1h'], /^callhook: name call ids or use --failed, not both/],
      [['replay', a, '--since', '1h'], /^callhook: --since goes with --failed/],
    ];
    for (const [args, message] of refusals) {
      const cli = spawnCli(args, env);
      expect([await exited(cli), cli.output()]).toEqual([1, expect.stringMatching(message)]);
    }
    await new Promise((r) => setTimeout(r, 300)); // a replay, had one been queued, would have run by now
    for (const id of [a, b]) expect((await h.get(id))?.status).toBe('partial');
    expect(receiver.to('/second').filter((r) => [a, b].some((id) => r.headers['idempotency-key'] === `${id}.second`))).toHaveLength(2);
  });

  it('npx callhook replay --failed re-queues every failed call', async () => {
    receiver.on('/second', () => ({ status: 500 }));
    const events = [makeEvent(), makeEvent()];
    const slow = `${yaml.replace('on_failure: stop', 'on_failure: stop, retry_count: 0')}`;
    const configPath = join(mkdtempSync(join(tmpdir(), 'callhook-replay-')), 'policies.yaml');
    writeFileSync(configPath, slow);
    // Run the calls through a worker with retry_count 0 so they fail fast.
    const worker = spawnCli(['worker'], { REDIS_URL: redisUrl(), CALLHOOK_PREFIX: h.prefix, CALLHOOK_CONFIG: configPath });
    await h.worker?.pause();
    try {
      await h.post(events);
      for (const e of events) expect((await h.waitForCall(e.call_id)).status).toBe('partial');
    } finally {
      worker.kill('SIGTERM');
      await exited(worker);
      h.worker?.resume();
    }
    receiver.on('/second', () => ({ status: 200, body: { n: 1 } }));
    const cli = spawnCli(['replay', '--failed', '--since', '1h'], { REDIS_URL: redisUrl(), CALLHOOK_PREFIX: h.prefix, CALLHOOK_CONFIG: configPath });
    expect(await exited(cli)).toBe(0);
    for (const e of events) expect(cli.output()).toContain(`${e.call_id}: queued again (second, third)`);
    expect(cli.output()).toMatch(/(\d+) of \1 call\(s\) queued for replay \(1 more ran real-time apps only: nothing to replay\)/);
    for (const e of events) expect((await h.waitForCall(e.call_id)).status).toBe('completed');
  });
});

describe('npx callhook replay --failed, on calls it cannot replay', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  let dir: string;

  beforeAll(async () => {
    receiver = await new Receiver().start();
    const yaml = `
policies:
  - id: default
    apps:
      - { name: First, url: "${receiver.url}/first" }
      - { name: Second, url: "${receiver.url}/second", retry_count: 0 }
  - id: realtime
    apps:
      - { name: Lookup, phase: real_time, url: "${receiver.url}/lookup", retry_count: 0 }
      - { name: Notify, url: "${receiver.url}/notify" }
`;
    h = await startHarness(__filename, yaml);
    dir = mkdtempSync(join(tmpdir(), 'callhook-replay-'));
    // The same file once app Second was removed from policy default.
    writeFileSync(join(dir, 'policies.yaml'), yaml.replace(/.*\/second.*\n/, ''));
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  const cli = async (args: string[], env: Record<string, string> = {}) => {
    const child = spawnCli(['replay', ...args], { REDIS_URL: redisUrl(), CALLHOOK_PREFIX: h.prefix, CALLHOOK_CONFIG: join(dir, 'policies.yaml'), ...env });
    return { code: await exited(child), output: child.output() };
  };

  it('a partial call whose failures are a real-time app, or an app no longer in its policy, is refused saying so, and --failed skips it (exit 0)', async () => {
    receiver.on('/lookup', () => ({ status: 503 }));
    receiver.on('/second', () => ({ status: 500 }));
    const realtime = makeEvent({ policy: 'realtime' });
    expect((await h.request('POST', '/v1/realtime', realtime)).body.app_data.lookup.status).toBe('failed');
    await h.post(realtime);
    const removed = makeEvent();
    await h.post(removed);
    for (const e of [realtime, removed]) expect((await h.waitForCall(e.call_id)).status).toBe('partial');
    expect((await h.get(realtime.call_id))?.app_data).toMatchObject({ lookup: { status: 'failed' }, notify: { status: 'success' } });

    const refusal = `call ${realtime.call_id} is partial, but replay has nothing to run: every post-call app of policy "realtime" succeeded, and lookup (failed) is a real-time app (replay re-runs post-call apps only)`;
    expect(await h.request('POST', `/v1/calls/${realtime.call_id}/replay`)).toMatchObject({ status: 409, body: { error: { code: 'CALLHOOK_REPLAY_CONFLICT', message: expect.stringContaining(refusal) } } });
    // By id, a refusal is one (exit 1), saying why.
    expect(await cli([removed.call_id])).toEqual({
      code: 1,
      output: expect.stringContaining(`${removed.call_id}: call ${removed.call_id} is partial, but replay has nothing to run: every post-call app of policy "default" succeeded, and second (failed) is no longer in the policy`),
    });
    const failed = await cli(['--failed']);
    expect(failed.code).toBe(0);
    expect(failed.output).toContain(`${realtime.call_id}: skipped: ${refusal}`);
    expect(failed.output).toContain(`${removed.call_id}: skipped: call ${removed.call_id} is partial`);
    expect(failed.output).toContain('0 of 0 call(s) queued for replay (2 more failed only in apps replay does not run: real-time apps, or apps no longer in their policy)');
    for (const e of [realtime, removed]) expect((await h.get(e.call_id))?.status).toBe('partial');
  });

  it('skips failed calls whose records are gone: entries older than the TTL are not read, a record deleted since is counted (exit 0)', async () => {
    receiver.on('/second', () => ({ status: 500 }));
    const [expired, deleted] = [makeEvent(), makeEvent()];
    await h.post([expired, deleted]);
    for (const e of [expired, deleted]) expect((await h.waitForCall(e.call_id)).status).toBe('partial');
    const { redis } = h.runtime;
    // With a TTL of 1 hour, `expired` finished 2 hours ago: its record has gone, its index entries
    // stay until a trim. `deleted` finished now and its record was deleted by hand.
    const [seconds] = await redis.time();
    for (const index of ['all', 'status:partial']) await redis.zadd(`${h.prefix}:idx:${index}`, 'XX', Number(seconds) * 1000 - 2 * 3_600_000, expired.call_id);
    for (const e of [expired, deleted]) await redis.del(`${h.prefix}:call:${e.call_id}`);

    const failed = await cli(['--failed'], { CALLHOOK_RESULT_TTL: '1h' });
    expect(failed.code).toBe(0);
    expect(failed.output).not.toContain(expired.call_id);
    expect(failed.output).not.toContain(`${deleted.call_id}:`);
    expect(failed.output).toMatch(/^0 of 0 call\(s\) queued for replay \((.*; )?1 more no longer stored: their records expired or were deleted\)$/m);
    // By id, a call that does not exist is still an error.
    expect(await cli([deleted.call_id])).toEqual({ code: 1, output: expect.stringContaining(`${deleted.call_id}: no call ${deleted.call_id}`) });
  });

  it('--since takes an ISO 8601 time as `calls` and `export` do, and refuses what they refuse', async () => {
    receiver.on('/second', () => ({ status: 500 }));
    const event = makeEvent();
    await h.post(event);
    expect((await h.waitForCall(event.call_id)).status).toBe('partial'); // second failed: no longer in the CLI's policy
    const skipped = `${event.call_id}: skipped:`;
    const before = await cli(['--failed', '--since', new Date(Date.now() - 60_000).toISOString()]);
    expect([before.code, before.output]).toEqual([0, expect.stringContaining(skipped)]);
    const after = await cli(['--failed', '--since', new Date(Date.now() + 60_000).toISOString()]);
    expect(after).toEqual({ code: 0, output: '0 of 0 call(s) queued for replay\n' });
    for (const since of ['3600000', '2026-02-30', 'yesterday']) {
      expect(await cli(['--failed', '--since', since])).toEqual({ code: 1, output: expect.stringMatching(new RegExp(`^callhook: --since: "${since}" is (a number alone|not an ISO 8601 time)`)) });
    }
  });
});

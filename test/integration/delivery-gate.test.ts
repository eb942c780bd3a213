import type { Redis } from 'ioredis';
import { RedisDeliveryGate, openCircuits, type CircuitChange } from '../../src/delivery/gate';
import type { GateRequest } from '../../src/pipeline/gate';
import { Metrics } from '../../src/metrics/metrics';
import { parseConfig } from '../../src/policies/load';
import type { WebhookApp } from '../../src/policies/types';
import { makeEvent } from '../helpers/events';
import { connectRedis, deletePrefix, uniquePrefix } from '../helpers/redis';

/** The delivery gate against the real Redis: its scripts, its slots, its circuits. */
describe('RedisDeliveryGate', () => {
  let redis: Redis;
  const prefix = uniquePrefix(__filename);
  const changes: CircuitChange[] = [];
  let gate: RedisDeliveryGate;

  const config = parseConfig(`
policies:
  - id: p
    apps:
      - { name: Limited, url: "http://limited.example/x", rate_limit: 10/s }
      - { name: Three, url: "http://three.example/x", rate_limit: 3/s }
      - { name: Paused, url: "http://paused.example/x", rate_limit: 10/s }
      - { name: Fast, url: "http://fast.example/x", rate_limit: 100/s }
      - { name: Per Caller, url: "http://caller.example/x", rate_limit: 1/m, rate_limit_key: "caller-{{ event.calling_name }}" }
      - { name: Shared A, url: "http://a.example/", rate_limit: 1/s, rate_limit_key: "chat-{{ event.called_number }}" }
      - { name: Shared B, url: "http://b.example/", rate_limit: 1/s, rate_limit_key: "chat-{{ event.called_number }}" }
      - { name: Fragile, url: "http://fragile.example:8080/x", timeout: 2s, circuit: { failures: 3, open_for: 300ms, max_wait: 1m } }
      - { name: Realtime, phase: real_time, url: "http://fragile.example:8080/rt" }
      - { name: Quiet, url: "http://quiet.example/x", circuit: { failures: 3, open_for: 200ms } }
      - { name: Restarted, url: "http://restarted.example/x", circuit: { failures: 1, open_for: 1s } }
      - { name: Watched, url: "http://watched.example/x", circuit: { failures: 1, open_for: 1h } }
      - { name: Patient, url: "http://patient.example/x", circuit: { failures: 1, open_for: 1h, max_wait: 2s } }
      - { name: By Site, url: "http://{{ event.site }}/x", allow_templated_host: true, circuit: { failures: 1, open_for: 1h } }
      - { name: Slow Probe, url: "http://slow-probe.example/x", timeout: 2s, circuit: { failures: 1, open_for: 200ms } }
`);
  const apps = config.policies[0]!.apps;
  const app = (slug: string) => apps.find((a) => a.slug === slug)!;
  const request = (a: WebhookApp, callId: string, overrides: Partial<GateRequest> = {}): GateRequest => ({
    app: a,
    policyId: 'p',
    callId,
    scope: { event: makeEvent({ call_id: callId }), app_data: {} },
    canWait: true,
    waitingSinceMs: undefined,
    ...overrides,
  });

  /** The commands on this file's keys that Redis ran while `action` did. */
  const commandsDuring = async (action: () => Promise<unknown>): Promise<string[]> => {
    const commands: string[] = [];
    const watcher = redis.duplicate();
    const monitor = await watcher.monitor();
    monitor.on('monitor', (_time: string, args: string[]) => commands.push(args.join(' ')));
    try {
      await action();
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      monitor.disconnect();
      watcher.disconnect();
    }
    return commands.filter((c) => c.includes(prefix));
  };

  beforeAll(() => {
    redis = connectRedis();
    gate = new RedisDeliveryGate(redis, prefix, (change) => changes.push(change), () => 0);
  });
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    redis.disconnect();
  });

  it('hands out slots in turn: the first goes, the next wait one interval more each, and keep their slot', async () => {
    const limited = app('limited'); // 10/s
    const asked = Date.now();
    const first = await gate.admit(request(limited, 'c1'));
    const secondAsked = Date.now();
    const second = await gate.admit(request(limited, 'c2'));
    const secondAskedAfter = Date.now() - asked;
    const third = await gate.admit(request(limited, 'c3'));
    const thirdAskedAfter = Date.now() - secondAsked;
    expect(first).toEqual({ kind: 'go' });
    expect(second).toMatchObject({ kind: 'wait', reason: 'rate_limit', message: 'rate_limit 10 per 1 s' });
    expect(third).toMatchObject({ kind: 'wait', reason: 'rate_limit' });
    const w2 = (second as { delayMs: number }).delayMs;
    const w3 = (third as { delayMs: number }).delayMs;
    // One interval after the first's slot, less the time the second took to ask (long on a loaded machine).
    expect(w2).toBeGreaterThanOrEqual(100 - secondAskedAfter - 5);
    expect(w2).toBeLessThanOrEqual(100);
    expect(w3 - w2).toBeGreaterThanOrEqual(100 - thirdAskedAfter - 5); // its own slot, one interval later
    // Asked again before its slot: the same slot, not a new one at the back of the line.
    expect(((await gate.admit(request(limited, 'c3'))) as { delayMs: number }).delayMs).toBeLessThanOrEqual(w3);
    await new Promise((r) => setTimeout(r, w2 + 5));
    expect(await gate.admit(request(limited, 'c2'))).toEqual({ kind: 'go' });
  });

  it('a slot a few ms away is waited for in the worker, not as a delayed job', async () => {
    const fast = app('fast'); // 100/s: 10 ms apart
    const started = Date.now();
    for (const id of ['f1', 'f2', 'f3']) expect(await gate.admit(request(fast, id))).toEqual({ kind: 'go' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(18);
  });

  it('calls that wake up late catch up with the schedule, but never more than N go in one period', async () => {
    const three = app('three'); // 3/s
    const first = [];
    for (const id of ['l1', 'l2', 'l3', 'l4', 'l5']) first.push((await gate.admit(request(three, id))).kind);
    expect(first).toEqual(['go', 'wait', 'wait', 'wait', 'wait']);
    await new Promise((r) => setTimeout(r, 1500)); // the workers were busy: every slot has passed
    const late = [];
    for (const id of ['l2', 'l3', 'l4', 'l5']) late.push(await gate.admit(request(three, id)));
    expect(late.map((a) => a.kind)).toEqual(['go', 'go', 'go', 'wait']);
    expect((late[3] as { delayMs: number }).delayMs).toBeGreaterThan(900); // until l2 leaves the window
    expect((late[3] as { delayMs: number }).delayMs).toBeLessThanOrEqual(1001);
  });

  it('a changed rate_limit starts a fresh schedule for new calls; a call already delayed keeps its wake time, then goes by the new one', async () => {
    const changed = (rate: string) => parseConfig(`policies: [{ id: p, apps: [{ name: Changed, url: "http://changed.example/x", rate_limit: ${rate} }] }]`).policies[0]!.apps[0]!;
    const slow = changed('1/m');
    const before = [];
    for (const id of ['rc1', 'rc2', 'rc3', 'rc4', 'rc5']) before.push(await gate.admit(request(slow, id)));
    expect(before.map((a) => a.kind)).toEqual(['go', 'wait', 'wait', 'wait', 'wait']);
    expect((before[4] as { delayMs: number }).delayMs).toBeGreaterThan(230_000); // its slot 4 minutes on
    // The policies file now says 100/s, on the same prefix: a new call goes, not minutes later.
    const fast = changed('100/s');
    expect(await gate.admit(request(fast, 'rc6'))).toEqual({ kind: 'go' });
    // rc5's delayed job wakes when it was told to (here: now), and takes a slot of the new schedule.
    expect(await gate.admit(request(fast, 'rc5'))).toEqual({ kind: 'go' });
  });

  it('a changed rate_limit keeps what belongs to the receiver: the sends of the last period and a 429\'s pause', async () => {
    const changed = (rate: string) => parseConfig(`policies: [{ id: p, apps: [{ name: Burst, url: "http://burst.example/x", rate_limit: ${rate} }] }]`).policies[0]!.apps[0]!;
    // 1/s: one send, then a 429 asks for 2 s of quiet.
    const one = changed('1/s');
    expect(await gate.admit(request(one, 'rb1'))).toEqual({ kind: 'go' });
    await gate.settle(request(one, 'rb1'), { kind: 'response', status: 429, retryAfterMs: 2000 });
    // Now 10/s: a new schedule, but the receiver's pause still holds.
    const ten = changed('10/s');
    const held = await gate.admit(request(ten, 'rb2'));
    expect(held).toMatchObject({ kind: 'wait', reason: 'rate_limit' });
    expect((held as { delayMs: number }).delayMs).toBeGreaterThan(1500);
  });

  it('rate_limit_key shares one limit between apps', async () => {
    expect(await gate.admit(request(app('shared-a'), 'k1'))).toEqual({ kind: 'go' });
    expect(await gate.admit(request(app('shared-b'), 'k1'))).toMatchObject({ kind: 'wait', reason: 'rate_limit' });
  });

  it('a rate_limit_key rendered from long call data becomes a digest in Redis, still one limit per value', async () => {
    const perCaller = app('per-caller');
    const long = (name: string) => request(perCaller, `pc-${name.length}`, { scope: { event: makeEvent({ calling_name: name }), app_data: {} } });
    expect(await gate.admit(long('x'.repeat(5000)))).toEqual({ kind: 'go' });
    expect(await gate.admit(long('x'.repeat(5000)))).toMatchObject({ kind: 'wait' }); // the same caller: the same limit
    expect(await gate.admit(long('y'.repeat(5000)))).toEqual({ kind: 'go' });
    // KEYS, not one SCAN step: on a Redis shared with other test files one step may miss them.
    const keys = await redis.keys(`${prefix}:rl:key:*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(Math.max(...keys.map((k) => k.length))).toBeLessThan(prefix.length + 200);
  });

  it('a 429 with Retry-After pauses the limit that long: a new call waits for it', async () => {
    const limited = app('limited');
    await new Promise((r) => setTimeout(r, 400)); // past the slots taken above
    await gate.settle(request(limited, 'p1'), { kind: 'response', status: 429, retryAfterMs: 1000 });
    const held = await gate.admit(request(limited, 'p2'));
    expect(held).toMatchObject({ kind: 'wait', reason: 'rate_limit' });
    expect((held as { delayMs: number }).delayMs).toBeGreaterThan(900);
  });

  it('calls holding slots when a 429 pauses the limit keep their turn: they go first when the pause ends', async () => {
    const paused = app('paused'); // 10/s
    const started = Date.now();
    const due = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      const admission = await gate.admit(request(paused, `z${i}`));
      if (admission.kind === 'wait') due.set(`z${i}`, Date.now() + admission.delayMs); // z1..z19, 100 ms apart
    }
    await gate.settle(request(paused, 'z0'), { kind: 'response', status: 429, retryAfterMs: 500 });
    const pauseEnd = Date.now() + 500;
    // Each held call asks again when its delayed job would be due, as a worker would run it.
    const sent: { id: string; at: number }[] = [];
    while (due.size > 0) {
      const [id, at] = [...due].reduce((a, b) => (b[1] < a[1] ? b : a));
      await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
      const admission = await gate.admit(request(paused, id));
      if (admission.kind === 'wait') due.set(id, Date.now() + admission.delayMs);
      else {
        due.delete(id);
        sent.push({ id, at: Date.now() });
      }
    }
    expect(sent[0]!.at).toBeGreaterThanOrEqual(pauseEnd - 5);
    // z1..z4 held slots inside the pause: they go right after it, not behind z19.
    expect(sent.slice(0, 5).map((s) => s.id).sort()).toEqual(['z1', 'z2', 'z3', 'z4', 'z5']);
    // At most 10 in any second, counted by this process's clock as the answers come (so a few ms short).
    const times = [started, ...sent.map((s) => s.at)]; // z0 went at the start
    for (const at of times) expect(times.filter((t) => t >= at && t < at + 980).length).toBeLessThanOrEqual(10);
  });

  it('a circuit opens after `failures` consecutive failures: queued calls wait, real-time apps are refused, nothing asked of Redis while it answers', async () => {
    const fragile = app('fragile');
    const commands = await commandsDuring(async () => {
      await gate.settle(request(fragile, 'f0'), { kind: 'response', status: 200 });
      await gate.admit(request(fragile, 'f0'));
    });
    expect(commands).toEqual([]); // a healthy destination costs no Redis command

    for (const id of ['f1', 'f2']) await gate.settle(request(fragile, id), { kind: 'network', code: 'ECONNREFUSED' });
    expect(changes).toEqual([]);
    await gate.settle(request(fragile, 'f3'), { kind: 'response', status: 503 });
    expect(changes).toEqual([{ destination: 'http://fragile.example:8080', state: 'open', failures: 3, openUntil: expect.any(Number), policy: 'p', app: 'fragile', templatedHost: false }]);
    const waiting = await gate.admit(request(fragile, 'f4'));
    expect(waiting).toMatchObject({ kind: 'wait', reason: 'circuit_open', message: 'circuit open for http://fragile.example:8080 (failing)' });
    expect((waiting as { delayMs: number }).delayMs).toBeLessThanOrEqual(300);
    expect(await gate.admit(request(app('realtime'), 'f4', { canWait: false }))).toEqual({ kind: 'refuse', message: 'circuit open for http://fragile.example:8080 (failing)' });
    expect(await openCircuits(redis, prefix)).toEqual([{ destination: 'http://fragile.example:8080', state: 'open', failures: 3, open_until: expect.any(String) }]);
    // A call that has waited circuit.max_wait goes anyway (and fails as it would without the breaker).
    expect(await gate.admit(request(fragile, 'f5', { waitingSinceMs: Date.now() - 61_000 }))).toEqual({ kind: 'go' });
  });

  it('after open_for one probe goes, the others wait for it; its success closes the circuit', async () => {
    const fragile = app('fragile');
    await new Promise((r) => setTimeout(r, 350));
    expect(await gate.admit(request(fragile, 'probe'))).toEqual({ kind: 'go' });
    expect(await gate.admit(request(fragile, 'other'))).toMatchObject({ kind: 'wait', reason: 'circuit_open', message: expect.stringMatching(/a probe is out/) });
    expect(await openCircuits(redis, prefix)).toEqual([expect.objectContaining({ state: 'half_open' })]);
    await gate.settle(request(fragile, 'probe'), { kind: 'response', status: 204 });
    expect(changes.at(-1)).toEqual({ destination: 'http://fragile.example:8080', state: 'closed', failures: 0, openUntil: undefined, policy: 'p', app: 'fragile', templatedHost: false });
    expect(await gate.admit(request(fragile, 'other'))).toEqual({ kind: 'go' });
    expect(await openCircuits(redis, prefix)).toEqual([]);
  });

  it('while a probe is out, a held call looks again after as long as the probe has been out, never past its lease', async () => {
    const slow = app('slow-probe'); // timeout 2 s: the probe's lease is 3 s
    await gate.settle(request(slow, 'sp0'), { kind: 'network', code: 'ETIMEDOUT' });
    await new Promise((r) => setTimeout(r, 250));
    expect(await gate.admit(request(slow, 'sp-probe'))).toEqual({ kind: 'go' });
    const delayOf = async () => ((await gate.admit(request(slow, 'sp-held'))) as { delayMs: number }).delayMs;
    expect(await delayOf()).toBe(500); // a probe just out: look again soon
    await new Promise((r) => setTimeout(r, 1500));
    // Out 1.5 s: the next look 1.5 s on, not every 0.5 s (a backlog of held calls re-ran its jobs hundreds of times a second).
    expect(await delayOf()).toBeGreaterThanOrEqual(1450);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await delayOf()).toBeLessThanOrEqual(550); // what is left of the lease
  });

  it('a failed probe opens the circuit again; 4xx answers count as the destination answering', async () => {
    const fragile = app('fragile');
    for (const id of ['g1', 'g2', 'g3']) await gate.settle(request(fragile, id), { kind: 'network', code: 'ETIMEDOUT' });
    await new Promise((r) => setTimeout(r, 350));
    expect(await gate.admit(request(fragile, 'probe2'))).toEqual({ kind: 'go' });
    await gate.settle(request(fragile, 'probe2'), { kind: 'network', code: 'ECONNRESET' });
    expect(changes.at(-1)).toMatchObject({ state: 'open' });
    expect(await gate.admit(request(fragile, 'h1'))).toMatchObject({ kind: 'wait' });
    await new Promise((r) => setTimeout(r, 350));
    expect(await gate.admit(request(fragile, 'probe3'))).toEqual({ kind: 'go' });
    await gate.settle(request(fragile, 'probe3'), { kind: 'response', status: 404 });
    expect(changes.at(-1)).toMatchObject({ state: 'closed' });
  });

  it('failures further apart than open_for still add up: the third consecutive one opens the circuit', async () => {
    const quiet = app('quiet'); // a destination that times out, one call at a time
    for (const id of ['q1', 'q2', 'q3']) {
      await gate.settle(request(quiet, id), { kind: 'network', code: 'ETIMEDOUT' });
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(changes.at(-1)).toMatchObject({ destination: 'http://quiet.example:80', state: 'open', failures: 3 });
  });

  it('a process that has not seen the destination fail holds a call that already waited for it, and records its probe', async () => {
    const restarted = app('restarted');
    await gate.settle(request(restarted, 'r0'), { kind: 'network', code: 'ECONNREFUSED' }); // opens it
    const freshChanges: CircuitChange[] = [];
    const fresh = new RedisDeliveryGate(redis, prefix, (change) => freshChanges.push(change), () => 0); // a worker started since
    const waited = { waitingSinceMs: Date.now() };
    expect(await fresh.admit(request(restarted, 'r1', waited))).toMatchObject({ kind: 'wait', reason: 'circuit_open' });
    await new Promise((r) => setTimeout(r, 1050));
    expect(await fresh.admit(request(restarted, 'r1', waited))).toEqual({ kind: 'go' }); // the probe
    expect(await fresh.admit(request(restarted, 'r2', waited))).toMatchObject({ kind: 'wait', message: expect.stringMatching(/a probe is out/) });
    await fresh.settle(request(restarted, 'r1', waited), { kind: 'response', status: 200 });
    expect(freshChanges).toEqual([expect.objectContaining({ destination: 'http://restarted.example:80', state: 'closed' })]);
  });

  it('a worker reads the open circuits from Redis when it starts: a call that never waited is held too', async () => {
    const watched = app('watched');
    await gate.settle(request(watched, 's0'), { kind: 'network', code: 'ECONNREFUSED' }); // opens it for an hour
    const fresh = new RedisDeliveryGate(redis, prefix, undefined, () => 0);
    const stop = fresh.watchCircuits();
    try {
      const deadline = Date.now() + 5000; // its first read is under way
      while ((await fresh.admit(request(watched, 's1'))).kind !== 'wait') {
        if (Date.now() > deadline) throw new Error('the open circuit was never read');
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      stop();
    }
    // Closed by another process: the next read forgets it here, so a send asks nothing of Redis again.
    await gate.settle(request(watched, 's2'), { kind: 'response', status: 200 });
    await fresh.refresh();
    expect(await commandsDuring(() => fresh.admit(request(watched, 's3')))).toEqual([]);
  });

  it('a call waits for an open circuit at most max_wait in all, even when open_for is longer', async () => {
    const patient = app('patient');
    await gate.settle(request(patient, 'w0'), { kind: 'network', code: 'ECONNREFUSED' }); // open for an hour
    const first = await gate.admit(request(patient, 'w1'));
    expect(first).toMatchObject({ kind: 'wait', reason: 'circuit_open', sinceMs: expect.any(Number) });
    expect((first as { delayMs: number }).delayMs).toBeLessThanOrEqual(2000);
    const later = await gate.admit(request(patient, 'w1', { waitingSinceMs: Date.now() - 1500 }));
    expect((later as { delayMs: number }).delayMs).toBeLessThanOrEqual(500);
    expect(await gate.admit(request(patient, 'w1', { waitingSinceMs: Date.now() - 2000 }))).toEqual({ kind: 'go' });
  });

  describe('hosts from call data (allow_templated_host)', () => {
    const bySite = (site: string) => request(app('by-site'), `site-${site}`, { scope: { event: makeEvent({ site } as never), app_data: {} } });
    const circuits = `${prefix}:circuits`;

    it('metrics name the app, not each host', async () => {
      const metrics = new Metrics();
      metrics.startAtZero(config);
      const counted = new RedisDeliveryGate(redis, prefix, (change) => metrics.circuitChanged(change));
      for (const site of ['h1.example', 'h2.example', 'h3.example']) await counted.settle(bySite(site), { kind: 'network', code: 'ENOTFOUND' });
      const series = (await metrics.text()).split('\n').filter((line) => line.startsWith('callhook_circuit_changes_total{'));
      expect(series.filter((line) => line.includes('state="open"'))).toEqual(expect.arrayContaining(['callhook_circuit_changes_total{destination="app:p.by-site",state="open"} 3']));
      expect(series.join('\n')).not.toContain('h1.example');
    });

    it('a circuit that expired leaves the set of circuits when it is listed or asked about', async () => {
      expect(await redis.sismember(circuits, 'http://h1.example:80')).toBe(1);
      await redis.del(`${prefix}:circuit:http://h1.example:80`, `${prefix}:circuit:http://h2.example:80`); // as their TTL would
      expect((await openCircuits(redis, prefix)).map((c) => c.destination)).not.toContain('http://h1.example:80');
      expect(await redis.sismember(circuits, 'http://h1.example:80')).toBe(0);

      await redis.sadd(circuits, 'http://h2.example:80'); // still listed when a worker reads the set
      const fresh = new RedisDeliveryGate(redis, prefix);
      await fresh.refresh();
      expect(await fresh.admit(bySite('h2.example'))).toEqual({ kind: 'go' });
      expect(await redis.sismember(circuits, 'http://h2.example:80')).toBe(0);
    });

    it('a process remembers at most 1000 failing destinations', async () => {
      const fresh = new RedisDeliveryGate(redis, prefix);
      for (let i = 0; i < 1100; i++) await fresh.settle(bySite(`m${i}.example`), { kind: 'network', code: 'ENOTFOUND' });
      expect((fresh as unknown as { suspect: Map<string, unknown> }).suspect.size).toBe(1000);
    });
  });

  it('fails the app, sending nothing, when its rate_limit_key cannot be rendered', async () => {
    // No template fails like this since the load checks; a key that throws stands for what still could.
    const broken = { ...app('per-caller'), rateLimitKey: { source: 'x', render: () => { throw new Error('boom'); } } };
    expect(await gate.admit(request(broken, 'broken-key'))).toEqual({ kind: 'refuse', code: 'CALLHOOK_TEMPLATE_RENDER', message: 'rate_limit_key: template failed: boom' });
    expect(await redis.keys(`${prefix}:rl:*hold:broken-key:*`)).toEqual([]);
  });
});

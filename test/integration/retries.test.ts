import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { freePort } from '../helpers/ports';
import { Receiver } from '../helpers/receiver';

const gaps = (times: number[]) => times.slice(1).map((t, i) => t - (times[i] ?? 0));

describe('retries: 5xx and network errors only, as BullMQ delayed retries', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;

  beforeAll(async () => {
    receiver = await new Receiver().start();
    const refused = await freePort(); // nothing listens there: connections are refused
    h = await startHarness(__filename, `
policies:
  - id: flaky
    apps:
      - { name: First, url: "${receiver.url}/first" }
      - { name: Flaky, url: "${receiver.url}/flaky", retry_jitter: 0 }
  - id: jittery
    apps:
      - { name: Jittery, url: "${receiver.url}/jittery", retry_count: 1, retry_delay: 500ms, circuit: false }
  - id: not-found
    apps:
      - { name: Lookup, url: "${receiver.url}/missing" }
  - id: refused
    apps:
      - { name: Down, url: "http://127.0.0.1:${refused}/x", retry_count: 2, retry_delay: 100ms }
  - id: timeout
    apps:
      - { name: Slow, url: "${receiver.url}/slow", timeout: 300ms, retry_count: 1, retry_delay: 100ms }
  - id: retry-after
    apps:
      - { name: Busy, url: "${receiver.url}/busy", retry_delay: 100ms, retry_count: 1, retry_on_status: [429] }
  - id: throttled
    apps:
      - { name: Throttled, url: "${receiver.url}/throttled", retry_delay: 100ms, retry_count: 1, retry_on_status: [429] }
  - id: exhausted
    apps:
      - { name: Broken, url: "${receiver.url}/broken", retry_count: 2, retry_delay: 50ms }
      - { name: Next, url: "${receiver.url}/next" }
`);
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  it('503, 503, 200: three requests spaced about 1 s and 2 s, and the app before is not sent again', async () => {
    receiver.sequence('/flaky', [{ status: 503 }, { status: 503 }, { status: 200, body: { done: true } }]);
    const event = makeEvent({ policy: 'flaky' });
    await h.post(event);
    const record = await h.waitForCall(event.call_id);
    expect(record.status).toBe('completed');
    expect(record.app_data.flaky).toMatchObject({ status: 'success', attempts: 3, data: { done: true } });
    const flaky = receiver.to('/flaky');
    expect(flaky).toHaveLength(3);
    const [first, second] = gaps(flaky.map((r) => r.at));
    expect(first).toBeGreaterThanOrEqual(950);
    expect(first).toBeLessThan(1800);
    expect(second).toBeGreaterThanOrEqual(1950);
    expect(second).toBeLessThan(3000);
    expect(new Set(flaky.map((r) => r.headers['idempotency-key']))).toEqual(new Set([`${event.call_id}.flaky`]));
    expect(receiver.to('/first')).toHaveLength(1);
    // Every attempt on record across the delayed runs: when, what came back, how long until the next.
    const log = record.app_data.flaky!.attempts_log;
    expect(log.map((a) => [a.http_status, a.error?.message ?? null, a.retry_in_ms])).toEqual([
      [503, 'HTTP 503', 1000],
      [503, 'HTTP 503', 2000],
      [200, null, null],
    ]);
    log.forEach((attempt, i) => expect(Math.abs(Date.parse(attempt.at) - flaky[i]!.at)).toBeLessThan(250));
  });

  it('404: one request, never retried', async () => {
    receiver.on('/missing', () => ({ status: 404 }));
    const event = makeEvent({ policy: 'not-found' });
    await h.post(event);
    const record = await h.waitForCall(event.call_id);
    expect(record.app_data.lookup).toMatchObject({ status: 'failed', http_status: 404, attempts: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.to('/missing')).toHaveLength(1);
  });

  it('a refused connection is retried, then recorded as a network error', async () => {
    const event = makeEvent({ policy: 'refused' });
    await h.post(event);
    const record = await h.waitForCall(event.call_id);
    expect(record.status).toBe('failed');
    expect(record.app_data.down).toMatchObject({ status: 'failed', http_status: null, attempts: 3, error: { code: 'CALLHOOK_HTTP_NETWORK', message: expect.stringContaining('ECONNREFUSED') } });
  });

  it('a receiver slower than the timeout is retried', async () => {
    receiver.on('/slow', () => ({ delayMs: 1000, status: 200 }));
    const event = makeEvent({ policy: 'timeout' });
    await h.post(event);
    const record = await h.waitForCall(event.call_id);
    expect(record.app_data.slow).toMatchObject({ status: 'failed', attempts: 2, error: { code: 'CALLHOOK_HTTP_TIMEOUT' } });
    expect(record.app_data.slow?.duration_ms).toBeLessThan(900);
    expect(receiver.to('/slow')).toHaveLength(2);
  });

  it('honours Retry-After when longer than the backoff, and retries 429 when listed', async () => {
    receiver.sequence('/busy', [{ status: 429, headers: { 'retry-after': '2' } }, { status: 200 }]);
    const event = makeEvent({ policy: 'retry-after' });
    await h.post(event);
    const record = await h.waitForCall(event.call_id);
    expect(record.app_data.busy).toMatchObject({ status: 'success', attempts: 2 });
    const [gap] = gaps(receiver.to('/busy').map((r) => r.at));
    expect(gap).toBeGreaterThanOrEqual(1950);
  });

  it('spreads the calls told the same Retry-After over up to retry_jitter more, never earlier', async () => {
    const told = new Set<string>();
    receiver.on('/throttled', (r) => {
      const key = String(r.headers['idempotency-key']);
      if (told.has(key)) return { status: 200 };
      told.add(key);
      return { status: 429, headers: { 'retry-after': '1' } };
    });
    const events = Array.from({ length: 10 }, () => makeEvent({ policy: 'throttled' }));
    await h.post(events);
    const records = await Promise.all(events.map((e) => h.waitForCall(e.call_id)));
    const delays = records.map((r) => r.app_data.throttled!.attempts_log[0]!.retry_in_ms!);
    for (const delay of delays) {
      expect(delay).toBeGreaterThanOrEqual(1000);
      expect(delay).toBeLessThanOrEqual(1200);
    }
    expect(new Set(delays).size).toBeGreaterThan(5);
  });

  // (20 failures at once would open the receiver's circuit: this test is about the retry delays alone.)
  it('spreads retry delays by ±20 % (retry_jitter default), so a backlog does not retry in lockstep', async () => {
    const seen = new Set<string>();
    receiver.on('/jittery', (r) => {
      const key = String(r.headers['idempotency-key']);
      if (seen.has(key)) return { status: 200 };
      seen.add(key);
      return { status: 503 };
    });
    const events = Array.from({ length: 20 }, () => makeEvent({ policy: 'jittery' }));
    await h.post(events);
    const records = await Promise.all(events.map((e) => h.waitForCall(e.call_id)));
    const delays = records.map((r) => r.app_data.jittery!.attempts_log[0]!.retry_in_ms!);
    expect(records.every((r) => r.app_data.jittery?.status === 'success')).toBe(true);
    for (const delay of delays) {
      expect(delay).toBeGreaterThanOrEqual(400);
      expect(delay).toBeLessThanOrEqual(600);
    }
    expect(new Set(delays).size).toBeGreaterThan(10);
  });

  it('after the last attempt the error is recorded and the policy goes on', async () => {
    receiver.on('/broken', () => ({ status: 500, body: { error: 'boom' } }));
    const event = makeEvent({ policy: 'exhausted' });
    await h.post(event);
    const record = await h.waitForCall(event.call_id);
    expect(record.status).toBe('partial');
    expect(record.app_data.broken).toMatchObject({ status: 'failed', http_status: 500, attempts: 3, data: { error: 'boom' }, error: { code: 'CALLHOOK_HTTP_STATUS', message: 'HTTP 500' } });
    expect(record.app_data.next).toMatchObject({ status: 'success' });
    expect(receiver.to('/broken')).toHaveLength(3);
  });
});

describe('a call waiting for a retry holds no worker slot', () => {
  it('lets a worker with concurrency 1 run other calls meanwhile', async () => {
    const receiver = await new Receiver().start();
    const h = await startHarness(__filename, `
policies:
  - id: waits
    apps: [{ name: Flaky, url: "${receiver.url}/flaky", retry_delay: 1500ms }]
  - id: quick
    apps: [{ name: Quick, url: "${receiver.url}/quick" }]
`, { concurrency: 1 });
    try {
      receiver.sequence('/flaky', [{ status: 503 }, { status: 200 }]);
      const waiting = makeEvent({ policy: 'waits' });
      await h.post(waiting);
      await receiver.waitFor(1, '/flaky');
      const quick = makeEvent({ policy: 'quick' });
      await h.post(quick);
      const quickRecord = await h.waitForCall(quick.call_id);
      expect(quickRecord.status).toBe('completed');
      expect((await h.get(waiting.call_id))?.status).toBe('running');
      expect(receiver.to('/flaky')).toHaveLength(1);
      expect((await h.waitForCall(waiting.call_id)).app_data.flaky?.attempts).toBe(2);
    } finally {
      await h.stop();
      await receiver.stop();
    }
  });
});

describe('a response cut off mid-body', () => {
  it('is a network error, retried (queued and in a request), never a success without data', async () => {
    // 200 with a Content-Length the body never reaches, then the connection drops; the third answer is whole.
    let answered = 0;
    const server = createServer((_request, response) => {
      answered += 1;
      if (answered % 3 === 0) return void response.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"John Doe"}');
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      response.write('{"name":"Jo');
      setTimeout(() => response.socket?.destroy(), 20);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/crm`;
    const h = await startHarness(__filename, `
policies:
  - id: cut
    apps:
      - { name: CRM, url: "${url}", retry_count: 3, retry_delay: 50ms, retry_jitter: 0, circuit: false }
  - id: cut-now
    apps:
      - { name: CRM, phase: real_time, url: "${url}", retry_count: 3, retry_delay: 50ms, retry_jitter: 0, circuit: false }
`);
    try {
      const posted = await h.post(makeEvent({ policy: 'cut' }));
      const crm = (await h.waitForCall(posted.body.calls[0]!.call_id)).app_data.crm!;
      expect(crm).toMatchObject({ status: 'success', data: { name: 'John Doe' }, attempts: 3 });
      expect(crm.attempts_log.map((a) => [a.http_status, a.error?.message.slice(0, 35) ?? null])).toEqual([
        [null, 'the response was cut off after HTTP'],
        [null, 'the response was cut off after HTTP'],
        [200, null],
      ]);
      const realtime = (await h.request('POST', '/v1/realtime', makeEvent({ policy: 'cut-now' }))).body.app_data.crm;
      expect(realtime).toMatchObject({ status: 'success', data: { name: 'John Doe' }, attempts: 3 });
    } finally {
      await h.stop();
      server.close();
    }
  });
});

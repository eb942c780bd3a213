import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CallhookApiError, CallhookNetworkError, createClient, type WaitDuration } from '../../src/client';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { freePort } from '../helpers/ports';
import { rawRequest } from '../helpers/raw-http';
import { Receiver } from '../helpers/receiver';

/**
 * The HTTP client against a live callhook, and against a real HTTP server on port 0 that
 * answers the way a struggling API does (503 with Retry-After, not listening yet).
 */
describe('HTTP client', () => {
  const TOKEN = 'client-test-token-0123456789abcdef0123456';
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;

  beforeAll(async () => {
    receiver = await new Receiver().start();
    receiver.on('/down', () => ({ status: 500 }));
    receiver.on('/caller', () => ({ status: 200, body: { name: "O'Brien & Sons" } }));
    h = await startHarness(__filename, `
policies:
  - id: ok
    apps: [{ name: CRM, url: "${receiver.url}/crm" }]
  - id: live
    apps: [{ name: Caller ID, phase: real_time, url: "${receiver.url}/caller" }]
  - id: broken
    apps: [{ name: Ticket, url: "${receiver.url}/down", retry_count: 0 }]
`, { apiToken: TOKEN });
  });
  afterAll(async () => {
    await h?.stop();
    await receiver?.stop();
  });

  it('sends, reads, lists, replays, runs Call Test and follows the results feed', async () => {
    const client = createClient({ url: `${h.baseUrl}/`, token: TOKEN });
    const good = makeEvent({ policy: 'ok' });
    const bad = makeEvent({ policy: 'broken' });
    expect(await client.send(good)).toEqual({ call_id: good.call_id, status: 'queued' });
    expect(await client.sendBatch([good, bad])).toEqual([
      { call_id: good.call_id, status: 'duplicate' },
      { call_id: bad.call_id, status: 'queued' },
    ]);
    const { call_id: generated } = await client.send({ calling_number: '5550100', called_number: '1000', policy: 'ok' });
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);

    const seen = new Map<string, string>();
    const controller = new AbortController();
    for await (const entry of client.results({ wait: '2s', signal: controller.signal })) {
      seen.set(entry.call.call_id, entry.call.status);
      if (seen.size === 3) controller.abort();
    }
    expect(Object.fromEntries(seen)).toEqual({ [good.call_id]: 'completed', [bad.call_id]: 'failed', [generated]: 'completed' });

    expect((await client.getCall(good.call_id))?.app_data.crm?.status).toBe('success');
    expect(await client.getCall('no-such-call')).toBeUndefined();
    const page = await client.listCalls({ status: ['failed'], policy: 'broken' });
    expect(page.calls.map((c) => c.call_id)).toEqual([bad.call_id]);

    receiver.on('/down', () => ({ status: 200, body: { ok: true } }));
    expect(await client.replay(bad.call_id)).toEqual({ call_id: bad.call_id, status: 'queued', replayed: ['ticket'] });
    await expect(client.replay(bad.call_id)).rejects.toMatchObject({ name: 'CallhookApiError', status: 409, code: 'CALLHOOK_REPLAY_CONFLICT' });

    const report = await client.callTest({ policy: 'ok', calling_number: '+1 (555) 123-4567', called_number: '1000' });
    expect(report.apps.map((a) => a.result.status)).toEqual(['success']);

    const live = await client.realtime({ call_id: 'client-live-1', calling_number: '5550100', called_number: '1000', policy: 'live' });
    expect(live).toMatchObject({ call_id: 'client-live-1', policy: 'live', stored: true, app_data: { 'caller-id': { status: 'success', data: { name: "O'Brien & Sons" } } } });
    await expect(client.realtime({ calling_number: '1', called_number: '2', policy: 'nope' })).rejects.toMatchObject({ status: 404, code: 'CALLHOOK_POLICY_NOT_FOUND' });
    const { policies, problems } = await client.policies();
    expect(policies.map((p) => [p.id, p.apps.map((a) => a.slug)])).toEqual([['ok', ['crm']], ['live', ['caller-id']], ['broken', ['ticket']]]);
    expect(problems).toEqual([]);
    const stats = await client.stats();
    expect(stats.queue.jobs).toEqual({ waiting: expect.any(Number), active: expect.any(Number), delayed: expect.any(Number), failed: expect.any(Number) });
    expect(stats.circuits).toEqual([]);

    const refused = await client.send({ calling_number: '1', called_number: '' }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CallhookApiError);
    expect(refused).toMatchObject({ status: 400, code: 'CALLHOOK_EVENT_INVALID', problems: ['called_number: is required'] });
    await expect(createClient({ url: h.baseUrl }).listCalls()).rejects.toMatchObject({ status: 401, code: 'CALLHOOK_UNAUTHORIZED' });
  });

  describe('a batch over the body limit (70 events of 250 KiB: 17.5 MiB)', () => {
    const bigBatch = () => Array.from({ length: 70 }, () => makeEvent({ policy: 'ok', pad: 'x'.repeat(250 * 1024) }));

    it('is refused before any request: CallhookApiError 413 CALLHOOK_EVENT_TOO_LARGE', async () => {
      let requests = 0;
      const counting = ((target: string, init: RequestInit) => {
        requests++;
        return fetch(target, init);
      }) as unknown as typeof fetch;
      const started = Date.now();
      const error = await createClient({ url: h.baseUrl, token: TOKEN, fetch: counting }).sendBatch(bigBatch()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CallhookApiError);
      expect(error).toMatchObject({ status: 413, code: 'CALLHOOK_EVENT_TOO_LARGE', message: expect.stringMatching(new RegExp(`^CALLHOOK_EVENT_TOO_LARGE: POST ${h.baseUrl}/v1/calls was not sent: its body is \\d+ bytes, over maxBodyBytes \\(16777216\\); send a batch as smaller ones$`)) });
      expect(requests).toBe(0);
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it('sent anyway (maxBodyBytes raised), it gets the API\'s 413 once, not EPIPE after 6 uploads', async () => {
      let requests = 0;
      const counting = ((target: string, init: RequestInit) => {
        requests++;
        return fetch(target, init);
      }) as unknown as typeof fetch;
      const client = createClient({ url: h.baseUrl, token: TOKEN, maxBodyBytes: 64 * 1024 * 1024, retryDelayMs: 10, fetch: counting });
      await expect(client.sendBatch(bigBatch())).rejects.toMatchObject({ name: 'CallhookApiError', status: 413, code: 'CALLHOOK_EVENT_TOO_LARGE' });
      expect(requests).toBe(1);
    });

    it('maxBodyBytes lower than the API\'s limit refuses a body the API would take (a proxy\'s limit)', async () => {
      const client = createClient({ url: h.baseUrl, token: TOKEN, maxBodyBytes: 1000 });
      await expect(client.send(makeEvent({ policy: 'ok', pad: 'x'.repeat(1000) }))).rejects.toMatchObject({ status: 413, code: 'CALLHOOK_EVENT_TOO_LARGE' });
      expect(() => createClient({ url: h.baseUrl, maxBodyBytes: 0 })).toThrow('callhook client: maxBodyBytes must be a number of at least 1, not 0');
    });
  });

  it('answers for the call ids . and .. as the API does (no call), though no URL can carry them', async () => {
    const client = createClient({ url: h.baseUrl, token: TOKEN });
    // The API's own answers, to the paths sent as they are (fetch would resolve them).
    for (const path of ['/v1/calls/%2E%2E', '/v1/calls/%2E']) {
      expect((await rawRequest(h.baseUrl, 'GET', path, { headers: { authorization: `Bearer ${TOKEN}` } })).json).toMatchObject({ error: { code: 'CALLHOOK_CALL_NOT_FOUND' } });
      expect((await rawRequest(h.baseUrl, 'POST', `${path}/replay`, { headers: { authorization: `Bearer ${TOKEN}` } })).json).toMatchObject({ error: { code: 'CALLHOOK_CALL_NOT_FOUND' } });
    }
    for (const id of ['..', '.']) {
      expect(await client.getCall(id)).toBeUndefined();
      await expect(client.replay(id)).rejects.toMatchObject({ name: 'CallhookApiError', status: 404, code: 'CALLHOOK_CALL_NOT_FOUND', message: `CALLHOOK_CALL_NOT_FOUND: no call ${id}` });
    }
    // Other ids go to the API, escaped: `a/b` and `..x` are no call either.
    expect(await client.getCall('a/b')).toBeUndefined();
    expect(await client.getCall('..x')).toBeUndefined();
    await expect(client.replay('a/b')).rejects.toMatchObject({ status: 404, code: 'CALLHOOK_CALL_NOT_FOUND', message: 'CALLHOOK_CALL_NOT_FOUND: no call a/b' });
  });

  describe('retries', () => {
    let server: Server | undefined;
    const bodies: string[] = [];
    afterEach(async () => {
      await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
      server = undefined;
      bodies.length = 0;
    });
    /** An API stand-in: answers each request with the next of `statuses`, and queues the call on the last. */
    const flaky = (statuses: number[], port = 0) =>
      new Promise<string>((resolve) => {
        let n = 0;
        server = createServer((req, res) => {
          let body = '';
          req.on('data', (chunk) => (body += chunk));
          req.on('end', () => {
            bodies.push(body);
            const status = statuses[Math.min(n++, statuses.length - 1)]!;
            if (status === 503) res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end(JSON.stringify({ error: { code: 'CALLHOOK_UNAVAILABLE', message: 'Redis is unavailable' } }));
            else res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ calls: [{ call_id: JSON.parse(body).call_id, status: 'queued' }] }));
          });
        }).listen(port, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server!.address() as AddressInfo).port}`));
      });

    it('retries a 503 after Retry-After, resending the same call_id', async () => {
      const url = await flaky([503, 503, 202]);
      const started = Date.now();
      const result = await createClient({ url, retryDelayMs: 10 }).send({ calling_number: '1', called_number: '2' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1900); // two Retry-After: 1
      expect(result.status).toBe('queued');
      expect(bodies).toHaveLength(3);
      expect(new Set(bodies.map((b) => JSON.parse(b).call_id))).toEqual(new Set([result.call_id]));
    });

    it('gives up after its retries with the API error', async () => {
      const url = await flaky([503]);
      await expect(createClient({ url, retries: 1, maxRetryDelayMs: 20 }).send({ calling_number: '1', called_number: '2' })).rejects.toMatchObject({ status: 503, code: 'CALLHOOK_UNAVAILABLE' });
      expect(bodies).toHaveLength(2);
    });

    it('retries while the API is not listening yet (connection refused)', async () => {
      const port = await freePort();
      setTimeout(() => void flaky([202], port), 300);
      const result = await createClient({ url: `http://127.0.0.1:${port}`, retryDelayMs: 100 }).send({ call_id: 'c-refused', calling_number: '1', called_number: '2' });
      expect(result).toEqual({ call_id: 'c-refused', status: 'queued' });
    });
  });

  describe('failures that are not API answers', () => {
    let server: Server;
    let url: string;
    let hits: string[] = [];
    let mode: 'hang' | 'reset' | 'html' | 'odd' | 'reset-on-body' = 'hang';
    /** What the server answers in mode `odd`: a proxy's or another service's answer. */
    let odd: { status: number; body: string } = { status: 200, body: '' };
    beforeAll(async () => {
      server = createServer((req, res) => {
        hits.push(`${req.method} ${req.url}`);
        if (mode === 'reset') req.socket.destroy();
        // A proxy refusing a body's size: it closes the connection at the body's first bytes.
        else if (mode === 'reset-on-body') req.once('data', () => req.socket.destroy());
        else if (mode === 'html') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>proxy login</html>');
        else if (mode === 'odd') res.writeHead(odd.status, odd.body ? { 'content-type': 'application/json' } : {}).end(odd.body);
        // hang: never answers
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    beforeEach(() => {
      hits = [];
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it('a timeout, after its retries, is a CallhookNetworkError naming the request, the attempts and the cause', async () => {
      mode = 'hang';
      const error = await createClient({ url, retries: 1, retryDelayMs: 10, timeoutMs: 200 }).getCall('c1').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CallhookNetworkError);
      expect(error).toMatchObject({ name: 'CallhookNetworkError', url: `${url}/v1/calls/c1`, attempts: 2, code: 'TIMEOUT' });
      expect((error as Error).cause).toBeDefined();
      expect(hits).toHaveLength(2);
    });

    it('a connection reset of a request that is not resent (replay) is one too', async () => {
      mode = 'reset';
      const error = await createClient({ url, retries: 3, retryDelayMs: 10 }).replay('c1').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CallhookNetworkError);
      expect(error).toMatchObject({ url: `${url}/v1/calls/c1/replay`, attempts: 1 });
      expect(hits).toEqual(['POST /v1/calls/c1/replay']);
    });

    it('a large body whose connection broke while it was sent is not resent (a proxy refusing its size)', async () => {
      mode = 'reset-on-body';
      const batch = Array.from({ length: 10 }, () => ({ calling_number: '1', called_number: '2', pad: 'x'.repeat(200 * 1024) }));
      const error = await createClient({ url, retries: 3, retryDelayMs: 10 }).sendBatch(batch).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CallhookNetworkError);
      expect(error).toMatchObject({ attempts: 1, code: expect.stringMatching(/^(EPIPE|ECONNRESET)$/), message: expect.stringMatching(/body was sent \(a proxy's body limit\?\); not resent$/) });
      expect(hits).toEqual(['POST /v1/calls']);
      // A small body broken off is still resent (send is idempotent).
      await expect(createClient({ url, retries: 2, retryDelayMs: 10 }).send({ calling_number: '1', called_number: '2' })).rejects.toMatchObject({ attempts: 3 });
    });

    it('a connection reset of a real-time request is not resent either (its apps may have been sent)', async () => {
      mode = 'reset';
      const error = await createClient({ url, retries: 3, retryDelayMs: 10 }).realtime({ calling_number: '1', called_number: '2' }).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'CallhookNetworkError', attempts: 1 });
      expect(hits).toEqual(['POST /v1/realtime']);
    });

    it('a 2xx that is not JSON (a proxy\'s page) is answered at once, not retried', async () => {
      mode = 'html';
      const error = await createClient({ url, retries: 3, retryDelayMs: 10 }).getCall('c1').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CallhookApiError);
      expect(error).toMatchObject({ status: 200, code: 'HTTP_200' });
      expect((error as Error).message).toContain('<html>proxy login</html>');
      expect(hits).toHaveLength(1);
    });

    it.each([
      ['a proxy\'s JSON error', '{"error":"Bad Gateway","message":"upstream down","statusCode":502}'],
      ['a code that is not a string', '{"error":{"code":502,"message":"upstream down"}}'],
      ['no message', '{"error":{"code":"BAD_GATEWAY"}}'],
    ])('an error answer in JSON that is not callhook\'s (%s) is HTTP_<status> with its text', async (_name, body) => {
      mode = 'odd';
      odd = { status: 502, body };
      const error = await createClient({ url, retries: 0 }).send({ calling_number: '1', called_number: '2' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CallhookApiError);
      expect(error).toMatchObject({ status: 502, code: 'HTTP_502', message: `HTTP_502: ${body}`, problems: [] });
    });

    it('callhook\'s error answer keeps its code, message and problems (problems that are not strings are left out)', async () => {
      mode = 'odd';
      odd = { status: 400, body: '{"error":{"code":"CALLHOOK_EVENT_INVALID","message":"invalid event","problems":"called_number"}}' };
      const error = await createClient({ url, retries: 0 }).send({ calling_number: '1', called_number: '2' }).catch((e: unknown) => e);
      expect(error).toMatchObject({ status: 400, code: 'CALLHOOK_EVENT_INVALID', message: 'CALLHOOK_EVENT_INVALID: invalid event', problems: [] });
    });

    /** Each method, run once against the server (the results feed for its first page). */
    const methods: [string, (client: ReturnType<typeof createClient>) => Promise<unknown>][] = [
      ['send', (c) => c.send({ calling_number: '1', called_number: '2' })],
      ['sendBatch', (c) => c.sendBatch([{ calling_number: '1', called_number: '2' }])],
      ['getCall', (c) => c.getCall('c1')],
      ['listCalls', (c) => c.listCalls()],
      ['replay', (c) => c.replay('c1')],
      ['callTest', (c) => c.callTest({ policy: 'ok', calling_number: '1', called_number: '2' })],
      ['realtime', (c) => c.realtime({ calling_number: '1', called_number: '2' })],
      ['policies', (c) => c.policies()],
      ['stats', (c) => c.stats()],
      ['results', (c) => c.results({ follow: false }).next()],
    ];
    it.each(methods.flatMap(([name, run]) => [
      [name, 200, '{"status":"ok"}', run] as const,
      [name, 204, '', run] as const,
    ]))('%s: a %d that is not its answer (%j) is HTTP_<status>, not a TypeError or undefined', async (_name, status, body, run) => {
      mode = 'odd';
      odd = { status, body };
      const error = await run(createClient({ url, retries: 3, retryDelayMs: 10 })).then((value) => ({ resolved: value }), (e: unknown) => e);
      expect(error).toBeInstanceOf(CallhookApiError);
      expect(error).toMatchObject({ status, code: `HTTP_${status}` });
      expect((error as Error).message).toContain(body);
      expect(hits).toHaveLength(1);
    });

    it('send: an answer without the call it queued (an empty calls list) is HTTP_<status>', async () => {
      mode = 'odd';
      odd = { status: 202, body: '{"calls":[]}' };
      await expect(createClient({ url, retries: 0 }).send({ calling_number: '1', called_number: '2' })).rejects.toMatchObject({ name: 'CallhookApiError', status: 202, code: 'HTTP_202' });
    });

    it.each([
      ['a character that is not Latin-1', 'trace\u2019id'],
      ['a control character', 'trace\u0001id'],
    ])('a request fetch refuses before sending (%s in a header a fetch wrapper adds) is a TypeError at once, not a retried network error', async (_name, value) => {
      mode = 'html';
      let calls = 0;
      const traced = ((target: string, init: Parameters<typeof fetch>[1] & { headers: Record<string, string> }) => {
        calls++;
        return fetch(target, { ...init, headers: { ...init.headers, 'x-trace': value } });
      }) as unknown as typeof fetch;
      const started = Date.now();
      const error = await createClient({ url, retryDelayMs: 100, fetch: traced }).getCall('c1').catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'TypeError', message: expect.stringMatching(new RegExp(`^callhook client: GET ${url}/v1/calls/c1 was not sent: `)) });
      expect((error as Error).cause).toBeDefined();
      expect(calls).toBe(1);
      expect(hits).toEqual([]);
      expect(Date.now() - started).toBeLessThan(1000);
    });

    it('a long poll of the results feed gives up after its wait and a small margin, not a fixed 65 s', async () => {
      mode = 'hang';
      const started = Date.now();
      const results = createClient({ url, retries: 0, timeoutMs: 200 }).results({ wait: '1s' });
      await expect(results.next()).rejects.toMatchObject({ name: 'CallhookNetworkError', code: 'TIMEOUT' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(Date.now() - started).toBeLessThan(5000);
    }, 10_000);

    it('results: a wait without its unit, or over 60s, is a TypeError before any request (30 was 30 ms: a busy loop)', async () => {
      mode = 'html';
      // From TypeScript, a number alone does not compile.
      // @ts-expect-error `30` is no WaitDuration
      const bare: WaitDuration = '30';
      for (const wait of [bare, '5 s', '2h', '61s'] as WaitDuration[]) {
        await expect(createClient({ url }).results({ wait }).next()).rejects.toThrow(`callhook client: wait must be a duration with its unit, at most 60s (500ms, 30s, 1m), not "${wait}"`);
      }
      expect(hits).toEqual([]);
    });

    it('leaves an empty list of statuses out of the query', async () => {
      mode = 'html';
      await createClient({ url, retries: 0 }).listCalls({ status: [], policy: 'sales' }).catch(() => undefined);
      expect(hits).toEqual(['GET /v1/calls?policy=sales']);
    });
  });
});

import { Writable } from 'node:stream';
import { startCallhook } from '../../src/callhook';
import { createLogger } from '../../src/logger';
import { parseConfig } from '../../src/policies/load';
import { parseSettings } from '../../src/settings';
import { curriRequest } from '../helpers/cucm';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { startOAuthServer } from '../helpers/oauth-server';
import { freePort } from '../helpers/ports';
import { Receiver } from '../helpers/receiver';
import { connectRedis, deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis';

const SECRETS = { bearer: 'bearer-token-1f2e3d', password: 'basic-pass-4c5b6a', clientSecret: 'oauth-client-secret-value', apiKey: 'query-key-7a8b9c' };

/** Value of one sample line of the Prometheus text, e.g. `callhook_calls_finished_total{status="completed"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics and logs', () => {
  let receiver: Receiver;
  let other: Receiver;
  let oauth: Awaited<ReturnType<typeof startOAuthServer>>;
  let h: Awaited<ReturnType<typeof startHarness>>;
  const lines: string[] = [];

  beforeAll(async () => {
    receiver = await new Receiver().start();
    // The apps of the later tests, on a destination of their own: the failures of one test must
    // not open the circuit (5 in a row by default) of another's.
    other = await new Receiver().start();
    other.on('/always-500', () => ({ status: 500 }));
    oauth = await startOAuthServer({ clientSecret: SECRETS.clientSecret });
    // Echoes the request back, credentials included, and fails: the error path is where secrets leak.
    receiver.on('/echo-fail', (req) => ({ status: 500, body: { you_sent: req.headers, url: req.url } }));
    receiver.sequence('/flaky', [{ status: 503 }, { status: 200, body: { ok: true } }]);
    const env = { CRM_TOKEN: SECRETS.bearer, LEGACY_PASSWORD: SECRETS.password, OAUTH_SECRET: SECRETS.clientSecret, API_KEY: SECRETS.apiKey };
    h = await startHarness(__filename, `
policies:
  - id: observed
    apps:
      - { name: Flaky, url: "${receiver.url}/flaky", retry_delay: 50ms, auth: { type: bearer, token: "\${CRM_TOKEN}" } }
      - { name: Modern, url: "${receiver.url}/ok", auth: { type: oauth2, token_url: "${oauth.tokenUrl}", client_id: callhook-client, client_secret: "\${OAUTH_SECRET}" } }
      - { name: Legacy, url: "${receiver.url}/echo-fail", query: { key: "\${API_KEY}" }, retry_count: 1, retry_delay: 20ms, auth: { type: basic, username: ops, password: "\${LEGACY_PASSWORD}" } }
  - id: lookup
    apps:
      - { name: Lookup, phase: real_time, url: "${other.url}/always-500", retry_count: 2, retry_delay: 150ms, retry_jitter: 0 }
  - id: unsent
    apps:
      - { name: Header, url: "${other.url}/ok", headers: { X-Caller: "{{ event.calling_name }}" } }
      - { name: Token, url: "${other.url}/ok", retry_count: 0, auth: { type: oauth2, token_url: "http://127.0.0.1:${await freePort()}/token", client_id: c, client_secret: "\${OAUTH_SECRET}" } }
      - { name: Big, url: "${other.url}/ok", method: POST, body: { name: "{{ event.calling_name }}", pad: "${'x'.repeat(200)}" }, max_request_bytes: 100 }
`, {
      env,
      logger: (config) =>
        createLogger({
          level: 'debug',
          secrets: config.secrets,
          destination: new Writable({ write: (chunk, _enc, done) => { lines.push(...String(chunk).split('\n').filter(Boolean)); done(); } }),
        }),
    });
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
    await other.stop();
    await oauth.stop();
  });

  it('counts calls, attempts, results, durations, queue depth and token fetches', async () => {
    const events = [makeEvent({ policy: 'observed' }), makeEvent({ policy: 'observed' })];
    await h.post(events);
    await h.post(events[0]);
    for (const event of events) expect((await h.waitForCall(event.call_id)).status).toBe('partial');

    const response = await fetch(`${h.baseUrl}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(sample(text, 'callhook_calls_received_total{status="queued"}')).toBe(2);
    expect(sample(text, 'callhook_calls_received_total{status="duplicate"}')).toBe(1);
    expect(sample(text, 'callhook_calls_finished_total{status="partial"}')).toBe(2);
    expect(sample(text, 'callhook_app_attempts_total{policy="observed",app="flaky",phase="post_call",outcome="retry"}')).toBe(1);
    expect(sample(text, 'callhook_app_attempts_total{policy="observed",app="flaky",phase="post_call",outcome="success"}')).toBe(2);
    expect(sample(text, 'callhook_app_attempts_total{policy="observed",app="legacy",phase="post_call",outcome="retry"}')).toBe(2);
    expect(sample(text, 'callhook_app_attempts_total{policy="observed",app="legacy",phase="post_call",outcome="failed"}')).toBe(2);
    expect(sample(text, 'callhook_app_results_total{policy="observed",app="modern",status="success"}')).toBe(2);
    expect(sample(text, 'callhook_app_results_total{policy="observed",app="legacy",status="failed"}')).toBe(2);
    expect(sample(text, 'callhook_app_http_duration_seconds_count{policy="observed",app="flaky"}')).toBe(3);
    expect(sample(text, 'callhook_oauth_token_fetches_total{outcome="success"}')).toBe(1);
    // Series the alerts read exist from the start, at 0: increase() cannot count an event whose series appears at 1.
    expect(sample(text, 'callhook_oauth_token_fetches_total{outcome="failure"}')).toBe(0);
    expect(sample(text, 'callhook_app_results_total{policy="observed",app="modern",status="skipped"}')).toBe(0);
    expect(sample(text, 'callhook_calls_finished_total{status="unmatched"}')).toBe(0);
    expect(text).toMatch(/^callhook_circuit_changes_total\{destination="http:\/\/127\.0\.0\.1:\d+",state="open"\} 0$/m);
    for (const state of ['waiting', 'active', 'delayed', 'failed']) expect(sample(text, `callhook_queue_jobs{state="${state}"}`)).toBe(0);
    expect(text).toContain('callhook_process_resident_memory_bytes');
  });

  it('counts each request a real-time app sent, with its own duration (not the backoff waits), and none for a request never sent', async () => {
    const answer = await h.request('POST', '/v1/realtime', makeEvent({ policy: 'lookup' }));
    expect(answer.body.app_data.lookup).toMatchObject({ status: 'failed', attempts: 3 });
    // A template that renders a CR/LF into a header, a token endpoint that refuses connections, a
    // request over max_request_bytes: no request goes out.
    const unsent = makeEvent({ policy: 'unsent', calling_name: 'line\r\nX-Injected: yes' });
    await h.post(unsent);
    const record = await h.waitForCall(unsent.call_id);
    expect(record.app_data.header?.error?.code).toBe('CALLHOOK_TEMPLATE_RENDER');
    expect(record.app_data.token?.error?.code).toBe('CALLHOOK_OAUTH_TOKEN');
    expect(record.app_data.big?.error?.code).toBe('CALLHOOK_REQUEST_TOO_LARGE');

    const text = await (await fetch(`${h.baseUrl}/metrics`)).text();
    expect(sample(text, 'callhook_app_attempts_total{policy="lookup",app="lookup",phase="real_time",outcome="retry"}')).toBe(2);
    expect(sample(text, 'callhook_app_attempts_total{policy="lookup",app="lookup",phase="real_time",outcome="failed"}')).toBe(1);
    expect(sample(text, 'callhook_app_http_duration_seconds_count{policy="lookup",app="lookup"}')).toBe(3);
    // Three loopback requests; the 150 + 300 ms between them are not request time.
    expect(sample(text, 'callhook_app_http_duration_seconds_sum{policy="lookup",app="lookup"}')).toBeLessThan(0.3);
    for (const app of ['header', 'token', 'big']) {
      for (const outcome of ['success', 'retry', 'failed']) expect(sample(text, `callhook_app_attempts_total{policy="unsent",app="${app}",phase="post_call",outcome="${outcome}"}`)).toBe(0);
      expect(sample(text, `callhook_app_http_duration_seconds_count{policy="unsent",app="${app}"}`) ?? 0).toBe(0);
      expect(sample(text, `callhook_app_results_total{policy="unsent",app="${app}",status="failed"}`)).toBe(1);
    }
  });

  it('logs one line per app and call with call_id, policy and app, and never a secret', async () => {
    const event = makeEvent({ policy: 'observed', call_id: 'call-logged' });
    await h.post(event);
    const record = await h.waitForCall(event.call_id);
    // The receiver's echo (Authorization, the query key) is scrubbed from the stored result too.
    expect(JSON.stringify(record)).not.toMatch(new RegExp(Object.values(SECRETS).join('|')));

    const mine = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.call_id === 'call-logged');
    expect(mine).toEqual(expect.arrayContaining([
      expect.objectContaining({ policy: 'observed', app: 'legacy', msg: 'app failed', status: 'failed', attempts: 2 }),
      // A retry says why, before the backoff: the final 'app failed' may be hours away.
      expect.objectContaining({ policy: 'observed', app: 'legacy', msg: 'app will be retried', attempt: 1, http_status: 500, error: 'CALLHOOK_HTTP_STATUS', reason: 'HTTP 500' }),
      expect.objectContaining({ policy: 'observed', app: 'modern', msg: 'app success' }),
      expect.objectContaining({ policy: 'observed', msg: 'call finished', status: 'partial' }),
    ]));

    // Whatever a careless log line carries, configured secrets and credential fields are hidden.
    const logger = createLogger({ secrets: h.runtime.config.secrets, destination: new Writable({ write: (c, _e, d) => { lines.push(String(c)); d(); } }) });
    const axiosLike = Object.assign(new Error(`request to ${receiver.url}/x?key=${SECRETS.apiKey} failed`), { config: { headers: { Authorization: `Bearer ${SECRETS.bearer}` } } });
    logger.error({ err: axiosLike, auth: h.runtime.config.policies[0]?.apps[2]?.auth, headers: { authorization: 'Basic abc' } }, `token ${SECRETS.bearer}`);
    logger.flush();
    await new Promise((r) => setTimeout(r, 50));
    const all = lines.join('\n');
    const basic = Buffer.from(`ops:${SECRETS.password}`).toString('base64');
    for (const secret of [...Object.values(SECRETS), basic, ...oauth.issuedTokens()]) expect(all).not.toContain(secret);
    expect(all).toContain('[REDACTED]');
  });
});

describe('calls the API finishes (/v1/realtime, CURRI) are counted', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;

  beforeAll(async () => {
    receiver = await new Receiver().start();
    receiver.on('/fail', () => ({ status: 500 }));
    h = await startHarness(__filename, `
policies:
  - id: lookup-only
    match: { called_number: "^1" }
    apps:
      - { name: Lookup, phase: real_time, url: "${receiver.url}/ok" }
  - id: curri-only
    match: { called_number: "^2" }
    apps:
      - { name: Caller, phase: real_time, url: "${receiver.url}/fail", retry_count: 0 }
    curri: { post_call: false, calling_name: "{{ event.calling_number }}" }
  - id: then-post-call
    match: { called_number: "^3" }
    apps:
      - { name: Caller, phase: real_time, url: "${receiver.url}/ok" }
      - { name: Log, url: "${receiver.url}/ok" }
    curri: { calling_name: "{{ event.calling_number }}" }
`);
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  const finished = async () => {
    const text = await (await fetch(`${h.baseUrl}/metrics`)).text();
    return Object.fromEntries(['completed', 'partial', 'failed', 'unmatched'].map((status) => [status, sample(text, `callhook_calls_finished_total{status="${status}"}`)]));
  };
  /** Polls /metrics until the counts are `expected` (CURRI stores its results after CUCM's answer), then checks they stay so. */
  const expectFinished = async (expected: Record<string, number>) => {
    for (let i = 0; i < 100 && JSON.stringify(await finished()) !== JSON.stringify(expected); i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    expect(await finished()).toEqual(expected);
  };
  const curri = async (called: string) => {
    const answer = await fetch(`${h.baseUrl}/curri`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: curriRequest({ calling: '5550001', called }) });
    expect(answer.status).toBe(200);
  };

  it('once their final status is stored; a call whose post-call apps follow is counted once, by its worker', async () => {
    // Real-time apps only: the API stores the final status, and counts it.
    expect((await h.request('POST', '/v1/realtime', makeEvent({ called_number: '1000' }))).body.app_data.lookup.status).toBe('success');
    await expectFinished({ completed: 1, partial: 0, failed: 0, unmatched: 0 });

    // A queued call keeps the status its worker gives it: /v1/realtime on it counts nothing more.
    const queued = makeEvent({ called_number: '3000' });
    await h.post(queued);
    await h.waitForCall(queued.call_id);
    expect((await h.request('POST', '/v1/realtime', queued)).status).toBe(200);
    await expectFinished({ completed: 2, partial: 0, failed: 0, unmatched: 0 });

    // CURRI without post-call apps: its real-time outcome is the call's final status.
    await curri('2000');
    await expectFinished({ completed: 2, partial: 0, failed: 1, unmatched: 0 });

    // CURRI then post-call apps: counted when the worker finishes them, not when CURRI stored its results.
    await curri('3000');
    await receiver.waitFor(5, '/ok'); // lookup, Log and Caller of the queued call, Caller and Log of this one
    await expectFinished({ completed: 3, partial: 0, failed: 1, unmatched: 0 });
  });
});

describe("a worker's /metrics, /healthz and /readyz", () => {
  it('listen on CALLHOOK_METRICS_HOST, not on the API\'s CALLHOOK_HOST', async () => {
    const prefix = uniquePrefix(__filename);
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', destination: new Writable({ write: (chunk, _enc, done) => { lines.push(...String(chunk).split('\n').filter(Boolean)); done(); } }) });
    // Another loopback address than the API's, so the test needs no other interface.
    const settings = parseSettings({ REDIS_URL: redisUrl(), CALLHOOK_PREFIX: prefix, CALLHOOK_HOST: '127.0.0.1', CALLHOOK_METRICS_HOST: '127.0.0.2', CALLHOOK_METRICS_PORT: '0' });
    const worker = await startCallhook(settings, parseConfig('policies: []\n'), logger, { api: false, worker: true });
    try {
      const listening = lines.map((line) => JSON.parse(line) as { msg: string; url?: string }).find((line) => line.msg === 'worker metrics listening');
      const url = new URL(listening?.url ?? '');
      expect(url.hostname).toBe('127.0.0.2');
      const metrics = await fetch(url);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('callhook_queue_jobs');
      expect((await fetch(`http://127.0.0.2:${url.port}/readyz`)).status).toBe(200);
      await expect(fetch(`http://127.0.0.1:${url.port}/metrics`)).rejects.toThrow();
    } finally {
      await worker.stop();
      const redis = connectRedis();
      await deletePrefix(redis, prefix);
      redis.disconnect();
    }
  });
});

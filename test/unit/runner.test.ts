import type { AppResult, AttemptLogEntry, CallState, CallStatus, Checkpoint } from '../../src/model/call';
import { noopObserver } from '../../src/pipeline/observer';
import { GO } from '../../src/pipeline/gate';
import { QUEUED, REAL_TIME, runApps, type RunnerDeps } from '../../src/pipeline/runner';
import { parseConfig } from '../../src/policies/load';
import type { Policy, WebhookApp } from '../../src/policies/types';
import { Redactor } from '../../src/util/redact';
import type { AttemptOutcome } from '../../src/webhook/retry-policy';
import type { AttemptOptions, AttemptReport, Sender } from '../../src/webhook/send';
import { makeEvent } from '../helpers/events';

/** What the fake receiver answers an app: a status (and data), or a network error. */
type Scripted = { status: number; data?: unknown; retryAfterMs?: number } | { network: string } | { noToken: true };

/** A Sender that answers from a script per app and records every attempt (no HTTP). */
class FakeSender implements Sender {
  readonly sent: { slug: string; options: AttemptOptions; scope: Record<string, unknown> }[] = [];
  private readonly scripts = new Map<string, Scripted[]>();
  /** Throws (a process crash) when this app is about to be sent. */
  crashAt: string | undefined;

  answer(slug: string, ...answers: Scripted[]): this {
    this.scripts.set(slug, answers);
    return this;
  }

  async attempt(app: WebhookApp, callId: string, scope: Record<string, unknown>, options: AttemptOptions = {}): Promise<AttemptReport> {
    if (this.crashAt === app.slug) throw new Error('crash');
    this.sent.push({ slug: app.slug, options, scope: structuredClone(scope) });
    const script = this.scripts.get(app.slug) ?? [];
    const next = script.length > 1 ? script.shift()! : (script[0] ?? { status: 200, data: { ok: true } });
    const credential = app.auth.type === 'oauth2' ? `token-${this.sent.length}` : undefined;
    const request = { method: app.method, url: `https://h.example/${app.slug}`, headers: { 'Idempotency-Key': `${callId}.${app.slug}`, ...(credential ? { Authorization: `Bearer ${credential}` } : {}) }, body: undefined };
    const tried = (httpStatus: number | null, error: AttemptReport['error']) => ({
      request: { ...request, bodyText: undefined },
      credential,
      // As from a token cache: the first try's token was cached, the one fetched after a 401 was not.
      refreshable: credential !== undefined && !options.staleCredential,
      durationMs: 1,
      unresolved: [],
      attempts: 1,
      tries: [{ at: new Date().toISOString(), http_status: httpStatus, duration_ms: 1, error, retry_in_ms: null }],
      httpStatus,
      error,
    });
    // The OAuth2 token endpoint failed: nothing was sent.
    if ('noToken' in next) return { ...tried(null, { code: 'CALLHOOK_OAUTH_TOKEN', message: 'token endpoint answered 503' }), outcome: { kind: 'network', code: 'oauth' }, data: null };
    if ('network' in next) return { ...tried(null, { code: 'CALLHOOK_HTTP_NETWORK', message: next.network }), outcome: { kind: 'network', code: next.network }, data: null };
    const outcome = next.retryAfterMs === undefined ? { kind: 'response' as const, status: next.status } : { kind: 'response' as const, status: next.status, retryAfterMs: next.retryAfterMs };
    const ok = next.status >= 200 && next.status < 300;
    return { ...tried(next.status, ok ? null : { code: 'CALLHOOK_HTTP_STATUS', message: `HTTP ${next.status}` }), outcome, data: next.data ?? null };
  }

  slugs(): string[] {
    return this.sent.map((s) => s.slug);
  }
}

/** A Checkpoint in memory: the state a later run (or a crash redelivery) resumes from. */
class MemoryCheckpoint implements Checkpoint {
  readonly results: Record<string, AppResult> = {};
  readonly pending: Record<string, AttemptLogEntry[]> = {};
  readonly writes: string[] = [];
  finished: CallStatus | undefined;

  async saveResult(slug: string, result: AppResult) {
    this.writes.push(`result ${slug}`);
    this.results[slug] = result;
    delete this.pending[slug];
  }
  async savePending(slug: string, attempts: readonly AttemptLogEntry[]) {
    this.writes.push(`pending ${slug}=${attempts.length}`);
    this.pending[slug] = [...attempts];
  }
  async finish(status: CallStatus, last?: { slug: string; result: AppResult }) {
    if (last) await this.saveResult(last.slug, last.result);
    this.writes.push(`finish ${status}`);
    this.finished = status;
  }
  state(event = makeEvent({ call_id: 'c1' })): CallState {
    return { event, results: { ...this.results }, pending: { ...this.pending } };
  }
}

function policyOf(apps: string, env: Record<string, string> = {}): Policy {
  return parseConfig(`policies: [{ id: p, apps: [${apps}] }]`, env).policies[0]!;
}

const THREE = policyOf(`
  { name: One, url: "https://h.example/1", retry_count: 2, retry_delay: 1s, retry_jitter: 0 },
  { name: Two, url: "https://h.example/2", retry_count: 2, retry_delay: 1s, retry_jitter: 0 },
  { name: Three, url: "https://h.example/3", retry_count: 2, retry_delay: 1s, message: "{{ app_data.two.data.n }}" }`);

function deps(sender: Sender, checkpoint: Checkpoint, secrets: string[] = []): RunnerDeps {
  return { sender, checkpoint, redactor: new Redactor(secrets) };
}

describe('runApps (fake sender, memory checkpoint)', () => {
  it('a crash after app 2: the next run sends app 3 only, and 1 and 2 are never sent again', async () => {
    const sender = new FakeSender().answer('two', { status: 200, data: { n: 2 } });
    const checkpoint = new MemoryCheckpoint();
    sender.crashAt = 'three';
    await expect(runApps(THREE, checkpoint.state(), QUEUED, deps(sender, checkpoint))).rejects.toThrow('crash');
    expect(checkpoint.writes).toEqual(['result one', 'result two']); // each written before the next request
    sender.crashAt = undefined;

    const outcome = await runApps(THREE, checkpoint.state(), QUEUED, deps(sender, checkpoint));
    expect(sender.slugs()).toEqual(['one', 'two', 'three']);
    expect(outcome).toMatchObject({ kind: 'finished', status: 'completed' });
    expect(checkpoint.results.three!.message).toBe('2'); // templated from the stored result of app 2
    expect(checkpoint.writes.slice(2)).toEqual(['result three', 'finish completed']);
  });

  it('on_failure: stop skips the apps after a failed one; the call is partial', async () => {
    const policy = policyOf(`{ name: A, url: "https://h.example/a" }, { name: B, url: "https://h.example/b", on_failure: stop }, { name: C, url: "https://h.example/c" }`);
    const sender = new FakeSender().answer('b', { status: 404 });
    const checkpoint = new MemoryCheckpoint();
    const outcome = await runApps(policy, checkpoint.state(), QUEUED, deps(sender, checkpoint));
    expect(sender.slugs()).toEqual(['a', 'b']);
    expect(outcome).toMatchObject({ kind: 'finished', status: 'partial' });
    expect(checkpoint.results.c).toMatchObject({ status: 'skipped', message: 'not run: b failed and has on_failure: stop' });
  });

  it('`when` false skips the app without a request', async () => {
    const policy = policyOf(`{ name: A, url: "https://h.example/a" }, { name: B, url: "https://h.example/b", when: "{{ app_data.a.data.vip }}" }`);
    const sender = new FakeSender().answer('a', { status: 200, data: { vip: false } });
    const checkpoint = new MemoryCheckpoint();
    await runApps(policy, checkpoint.state(), QUEUED, deps(sender, checkpoint));
    expect(sender.slugs()).toEqual(['a']);
    expect(checkpoint.results.b).toMatchObject({ status: 'skipped', message: '`when` was false' });
  });

  it('queued: a 503 with Retry-After returns a retry after that long, and the next run is attempt 2', async () => {
    const sender = new FakeSender().answer('one', { status: 503, retryAfterMs: 7000 }, { status: 200, data: {} });
    const checkpoint = new MemoryCheckpoint();
    const first = await runApps(THREE, checkpoint.state(), QUEUED, deps(sender, checkpoint));
    expect(first).toEqual({ kind: 'retry', slug: 'one', attempt: 1, delayMs: 7000, last: expect.objectContaining({ http_status: 503, error: { code: 'CALLHOOK_HTTP_STATUS', message: 'HTTP 503' }, retry_in_ms: 7000 }) });
    expect(checkpoint.writes).toEqual(['pending one=1']);
    const second = await runApps(THREE, checkpoint.state(), QUEUED, deps(sender, checkpoint));
    expect(second).toMatchObject({ kind: 'finished', status: 'completed' });
    expect(checkpoint.results.one).toMatchObject({ status: 'success', attempts: 2 });
  });

  it('queued: the last retry spent, the app fails with its error and the call goes on', async () => {
    const sender = new FakeSender().answer('one', { network: 'ECONNREFUSED' });
    const checkpoint = new MemoryCheckpoint();
    const delays: number[] = [];
    for (let run = 0; run < 3; run++) {
      const outcome = await runApps(THREE, checkpoint.state(), QUEUED, deps(sender, checkpoint));
      if (outcome.kind === 'retry') delays.push(outcome.delayMs);
    }
    expect(delays).toEqual([1000, 2000]); // retry_delay doubling, retry_count 2
    expect(checkpoint.results.one).toMatchObject({ status: 'failed', attempts: 3, error: { code: 'CALLHOOK_HTTP_NETWORK' } });
    // Every attempt on record, each with the wait that followed it.
    expect(checkpoint.results.one!.attempts_log.map((a) => [a.http_status, a.error?.code, a.retry_in_ms])).toEqual([
      [null, 'CALLHOOK_HTTP_NETWORK', 1000],
      [null, 'CALLHOOK_HTTP_NETWORK', 2000],
      [null, 'CALLHOOK_HTTP_NETWORK', null],
    ]);
    expect(checkpoint.results.one!.request).toEqual({ method: 'GET', url: 'https://h.example/one', headers: { 'Idempotency-Key': 'c1.one' }, body_bytes: 0 });
    expect(checkpoint.finished).toBe('partial');
  });

  it('a 401 to an OAuth2 token: sent once more with a fresh token, within the same deadline', async () => {
    const policy = policyOf(`{ name: A, url: "https://h.example/a", auth: { type: oauth2, token_url: "https://auth.example/t", client_id: c, client_secret: client-secret } }`);
    const sender = new FakeSender().answer('a', { status: 401 }, { status: 200, data: { ok: 1 } });
    const checkpoint = new MemoryCheckpoint();
    await runApps(policy, checkpoint.state(), QUEUED, deps(sender, checkpoint));
    expect(sender.sent.map((s) => s.options.staleCredential)).toEqual([undefined, 'token-1']);
    expect(sender.sent[1]!.options.deadlineAt).toBe(sender.sent[0]!.options.deadlineAt);
    expect(checkpoint.results.a).toMatchObject({ status: 'success', attempts: 1 });
    expect(checkpoint.results.a!.attempts_log.map((a) => [a.http_status, a.retry_in_ms])).toEqual([[401, 0], [200, null]]);
    expect(checkpoint.results.a!.request!.headers.Authorization).toBe('[REDACTED]');
  });

  it('queued: a 401 answered with a fresh token is one attempt, so the retries after it keep their number and delay', async () => {
    const policy = policyOf(`{ name: A, url: "https://h.example/a", retry_count: 3, retry_delay: 200ms, retry_jitter: 0, auth: { type: oauth2, token_url: "https://auth.example/t", client_id: c, client_secret: client-secret } }`);
    const sender = new FakeSender().answer('a', { status: 401 }, { status: 503 });
    const checkpoint = new MemoryCheckpoint();
    const outcomes = [];
    for (let run = 0; run < 4; run++) outcomes.push(await runApps(policy, checkpoint.state(), QUEUED, deps(sender, checkpoint)));
    expect(outcomes.slice(0, 3)).toEqual([200, 400, 800].map((delayMs, i) => ({ kind: 'retry', slug: 'a', attempt: i + 1, delayMs, last: expect.objectContaining({ retry_in_ms: delayMs }) })));
    expect(outcomes[3]).toMatchObject({ kind: 'finished', status: 'failed' });
    expect(sender.sent).toHaveLength(5); // the stale token's 401, then 1 + 3 retries with a fresh one
    expect(checkpoint.results.a).toMatchObject({ attempts: 4, http_status: 503 });
  });

  it('counts one attempt per request sent, the outcome on the last one sent when the token refresh after a 401 fails', async () => {
    const policy = policyOf(`{ name: A, url: "https://h.example/a", retry_count: 0, auth: { type: oauth2, token_url: "https://auth.example/t", client_id: c, client_secret: client-secret } }`);
    const sender = new FakeSender().answer('a', { status: 401 }, { noToken: true });
    const checkpoint = new MemoryCheckpoint();
    const observed: [string, number | null][] = [];
    const observer = { ...noopObserver, attempt: (_: unknown, verdict: string, _ms: number, status: number | null) => void observed.push([verdict, status]) };
    expect(await runApps(policy, checkpoint.state(), QUEUED, { ...deps(sender, checkpoint), observer })).toMatchObject({ kind: 'finished', status: 'failed' });
    expect(observed).toEqual([['failed', 401]]); // the 401 went out; the refreshed try never did
  });

  it('queued: a 401 the app retries with no delay still spends its attempts (only a token refresh is free)', async () => {
    const policy = policyOf(`{ name: A, url: "https://h.example/a", retry_count: 2, retry_delay: 0, retry_jitter: 0, retry_on_status: [401] }`);
    const sender = new FakeSender().answer('a', { status: 401 });
    const checkpoint = new MemoryCheckpoint();
    const outcomes = [];
    for (let run = 0; run < 4 && !checkpoint.finished; run++) outcomes.push(await runApps(policy, checkpoint.state(), QUEUED, deps(sender, checkpoint)));
    expect(outcomes.map((o) => o.kind)).toEqual(['retry', 'retry', 'finished']);
    expect(outcomes.slice(0, 2)).toEqual([1, 2].map((attempt) => ({ kind: 'retry', slug: 'a', attempt, delayMs: 1, last: expect.objectContaining({ retry_in_ms: 1 }) })));
    expect(sender.sent).toHaveLength(3);
  });

  it('the resend after a 401 asks the gate like any request; made to wait, the 401 stays on record and the next run sends it, without refreshing again', async () => {
    const policy = policyOf(`{ name: A, url: "https://h.example/a", rate_limit: 1/s, auth: { type: oauth2, token_url: "https://auth.example/t", client_id: c, client_secret: client-secret } }`);
    const sender = new FakeSender().answer('a', { status: 401 });
    const checkpoint = new MemoryCheckpoint();
    const admissions = [GO, { kind: 'wait' as const, delayMs: 700, reason: 'rate_limit' as const, message: 'rate_limit 1 per 1 s' }, GO];
    const settled: number[] = [];
    const gate = { admit: async () => admissions.shift()!, settle: async (_: unknown, outcome: AttemptOutcome) => void settled.push(outcome.kind === 'response' ? outcome.status : 0) };
    const first = await runApps(policy, checkpoint.state(), QUEUED, { ...deps(sender, checkpoint), gate });
    expect(first).toEqual({ kind: 'wait', slug: 'a', delayMs: 700, reason: 'rate_limit', message: 'rate_limit 1 per 1 s', sinceMs: undefined });
    expect(sender.sent).toHaveLength(1); // the resend did not go past its rate limit
    expect(checkpoint.pending.a!.map((a) => [a.http_status, a.retry_in_ms])).toEqual([[401, 0]]);
    const second = await runApps(policy, checkpoint.state(), QUEUED, { ...deps(sender, checkpoint), gate });
    expect(second).toMatchObject({ kind: 'finished', status: 'failed' });
    expect(sender.sent).toHaveLength(2); // the resend, refused too: no third request, no other token
    expect(checkpoint.results.a).toMatchObject({ status: 'failed', http_status: 401, attempts: 1 });
    expect(checkpoint.results.a!.attempts_log.map((a) => [a.http_status, a.retry_in_ms])).toEqual([[401, 0], [401, null]]);
    expect(settled).toEqual([401, 401]); // each request told to the gate once
    expect(admissions).toEqual([]);
  });

  it('a 401 to a token fetched for this very attempt is not answered with another', async () => {
    const policy = policyOf(`{ name: A, url: "https://h.example/a", auth: { type: oauth2, token_url: "https://auth.example/t", client_id: c, client_secret: client-secret } }`);
    const sender = new FakeSender().answer('a', { status: 401 });
    const fresh: Sender = { attempt: async (...args) => ({ ...(await sender.attempt(...args)), refreshable: false }) };
    const checkpoint = new MemoryCheckpoint();
    await runApps(policy, checkpoint.state(), QUEUED, deps(fresh, checkpoint));
    expect(sender.sent).toHaveLength(1);
    expect(checkpoint.results.a).toMatchObject({ status: 'failed', http_status: 401, attempts: 1 });
  });

  it('a second 401 after the fresh token fails the app (no loop)', async () => {
    const policy = policyOf(`{ name: A, url: "https://h.example/a", auth: { type: oauth2, token_url: "https://auth.example/t", client_id: c, client_secret: client-secret } }`);
    const sender = new FakeSender().answer('a', { status: 401 });
    const checkpoint = new MemoryCheckpoint();
    await runApps(policy, checkpoint.state(), QUEUED, deps(sender, checkpoint));
    expect(sender.sent).toHaveLength(2);
    expect(checkpoint.results.a).toMatchObject({ status: 'failed', http_status: 401 });
  });

  it('in-request mode never returns a retry: what the sender gave up on is the result', async () => {
    const policy = policyOf(`{ name: A, phase: real_time, url: "https://h.example/a" }`);
    const sender = new FakeSender().answer('a', { status: 503 });
    const checkpoint = new MemoryCheckpoint();
    const outcome = await runApps(policy, checkpoint.state(), REAL_TIME, deps(sender, checkpoint));
    expect(sender.sent[0]!.options.retryInRequest).toBe(true);
    expect(outcome).toMatchObject({ kind: 'finished', status: 'failed' });
    expect(checkpoint.writes).toEqual(['result a', 'finish failed']);
  });

  it('a run deadline (CURRI) caps each app\'s own timeout, and the timeout error names what was allowed', async () => {
    const policy = policyOf(`{ name: A, phase: real_time, url: "https://h.example/a", timeout: 5s }, { name: B, phase: real_time, url: "https://h.example/b", timeout: 100ms }`);
    const sender = new FakeSender();
    const checkpoint = new MemoryCheckpoint();
    const deadlineAt = Date.now() + 400;
    await runApps(policy, checkpoint.state(), REAL_TIME, { ...deps(sender, checkpoint), deadlineAt });
    const [a, b] = sender.sent.map((s) => s.options);
    expect(a!.deadlineAt).toBe(deadlineAt);
    expect(a!.budgetMs).toBeLessThanOrEqual(400);
    expect(b!.budgetMs).toBe(100); // its own timeout is shorter
  });

  it('redacts every result and request trace: configured secrets and the attempt\'s own credential', async () => {
    const policy = policyOf(`{ name: A, url: "https://h.example/a", auth: { type: oauth2, token_url: "https://auth.example/t", client_id: c, client_secret: client-secret } }`);
    const sender = new FakeSender().answer('a', { status: 200, data: { echo: 'token-1', nested: { deeper: ['client-secret'] } } });
    const checkpoint = new MemoryCheckpoint();
    const outcome = await runApps(policy, checkpoint.state(), QUEUED, deps(sender, checkpoint, ['client-secret']));
    expect(checkpoint.results.a!.data).toEqual({ echo: '[REDACTED]', nested: { deeper: ['[REDACTED]'] } });
    expect(outcome.kind === 'finished' && outcome.runs[0]!.request!.headers.Authorization).toBe('[REDACTED]');
  });

  it('a gate that refuses with a code fails the app with it, sending nothing', async () => {
    const policy = policyOf(`{ name: A, url: "https://h.example/a", rate_limit: 1/s, rate_limit_key: "{{ event.calling_name }}" }`);
    const sender = new FakeSender();
    const checkpoint = new MemoryCheckpoint();
    const gate = { admit: async () => ({ kind: 'refuse' as const, code: 'CALLHOOK_TEMPLATE_RENDER' as const, message: 'rate_limit_key: template failed: boom' }), settle: async () => undefined };
    const outcome = await runApps(policy, checkpoint.state(), QUEUED, { ...deps(sender, checkpoint), gate });
    expect(outcome).toMatchObject({ kind: 'finished', status: 'failed' });
    expect(checkpoint.results.a).toMatchObject({ status: 'failed', attempts: 0, error: { code: 'CALLHOOK_TEMPLATE_RENDER', message: 'rate_limit_key: template failed: boom' } });
    expect(sender.slugs()).toEqual([]);
  });
});

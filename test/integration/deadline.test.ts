import { parseConfig } from '../../src/policies/load';
import type { WebhookApp } from '../../src/policies/types';
import { closeHttpClient, createHttpClient } from '../../src/webhook/http-client';
import { OAuthTokenCache } from '../../src/webhook/oauth';
import { HttpSender } from '../../src/webhook/send';
import { makeEvent } from '../helpers/events';
import { Receiver } from '../helpers/receiver';

/** An attempt's wall-clock deadline (the app's timeout) and an abort from outside (shutdown). */
describe('attempt deadline', () => {
  let receiver: Receiver;
  let deps: { http: ReturnType<typeof createHttpClient>; tokens: OAuthTokenCache; sender: HttpSender };

  beforeAll(async () => {
    receiver = await new Receiver().start();
    receiver.on('/hang', () => ({ hang: true }));
    receiver.on('/drip', () => ({ delayMs: 150, body: { ok: true } }));
    receiver.on('/busy', () => ({ status: 503 }));
  });
  afterAll(() => receiver.stop());
  beforeEach(() => {
    const http = createHttpClient();
    const tokens = new OAuthTokenCache(http);
    deps = { http, tokens, sender: new HttpSender(http, tokens) };
  });
  afterEach(() => closeHttpClient(deps.http));

  const app = (path: string, timeout: string, extra = ''): WebhookApp => {
    const config = parseConfig(`policies: [{ id: p, apps: [{ name: Hook, url: "${receiver.url}${path}", timeout: ${timeout}${extra} }] }]`);
    return config.policies[0]!.apps[0]!;
  };
  const scope = { event: makeEvent(), app_data: {} };

  it('a receiver that never answers fails the attempt as a timeout at the app timeout', async () => {
    const report = await deps.sender.attempt(app('/hang', '300ms'), 'c1', scope);
    expect(report.error).toEqual({ code: 'CALLHOOK_HTTP_TIMEOUT', message: 'no response within 300 ms' });
    expect(report.outcome).toEqual({ kind: 'network', code: 'ETIMEDOUT' });
    expect(report.durationMs).toBeGreaterThanOrEqual(290);
    expect(report.durationMs).toBeLessThan(1500);
  });

  it('an answer inside the timeout is not cut short by the deadline', async () => {
    const report = await deps.sender.attempt(app('/drip', '2s'), 'c2', scope);
    expect(report).toMatchObject({ httpStatus: 200, error: null, data: { ok: true } });
  });

  it('in-request retries share one deadline: a hang uses it up, and no retry starts that could not finish', async () => {
    const hang = await deps.sender.attempt(app('/hang', '400ms', ', retry_count: 3, retry_delay: 10ms'), 'c3', scope, { retryInRequest: true });
    expect(hang.error?.code).toBe('CALLHOOK_HTTP_TIMEOUT');
    expect(hang.durationMs).toBeLessThan(1500);

    // 503 at once each time; waits of 150, 300, 600 ms: the third would end past 600 ms.
    const before = receiver.requests.length;
    const busy = await deps.sender.attempt(app('/busy', '600ms', ', retry_count: 5, retry_delay: 150ms, retry_jitter: 0'), 'c5', scope, { retryInRequest: true });
    expect(busy).toMatchObject({ httpStatus: 503, attempts: 3, error: { code: 'CALLHOOK_HTTP_STATUS' } });
    expect(receiver.requests.length - before).toBe(3);
    expect(busy.durationMs).toBeGreaterThanOrEqual(440);
    expect(busy.durationMs).toBeLessThan(600);
  });

  it('an abort from outside ends the attempt at once as aborted, not as a timeout, and is not retried', async () => {
    const shutdown = new AbortController();
    setTimeout(() => shutdown.abort(), 100);
    const report = await deps.sender.attempt(app('/hang', '30s', ', retry_count: 3, retry_delay: 10ms'), 'c4', scope, {
      signal: shutdown.signal,
      retryInRequest: true,
    });
    expect(report.error).toEqual({ code: 'CALLHOOK_HTTP_NETWORK', message: 'request aborted' });
    expect(report.attempts).toBe(1);
    expect(report.durationMs).toBeLessThan(1500);
  });

  it('in-request retries stop at retry_count: the first try and each retry are logged with the wait that followed', async () => {
    const before = receiver.requests.length;
    const busy = await deps.sender.attempt(app('/busy', '5s', ', retry_count: 2, retry_delay: 10ms, retry_jitter: 0'), 'c6', scope, { retryInRequest: true });
    expect(busy).toMatchObject({ httpStatus: 503, attempts: 3, error: { code: 'CALLHOOK_HTTP_STATUS' } });
    expect(receiver.requests.length - before).toBe(3);
    expect(busy.tries.map((t) => [t.http_status, t.retry_in_ms])).toEqual([[503, 10], [503, 20], [503, null]]);
  });

  it('a network failure is retried in the request, and the retry that answers ends the exchange', async () => {
    receiver.sequence('/reset-once', [{ reset: true }, { body: { ok: true } }]);
    const report = await deps.sender.attempt(app('/reset-once', '5s', ', retry_count: 2, retry_delay: 10ms, retry_jitter: 0'), 'c7', scope, { retryInRequest: true });
    expect(report).toMatchObject({ httpStatus: 200, attempts: 2, error: null, data: { ok: true } });
    expect(report.tries[0]).toMatchObject({ http_status: null, error: { code: 'CALLHOOK_HTTP_NETWORK' }, retry_in_ms: 10 });
  });

  it('an abort during the wait before a retry ends the attempt at once as aborted', async () => {
    const shutdown = new AbortController();
    setTimeout(() => shutdown.abort(), 100);
    const before = receiver.requests.length;
    const report = await deps.sender.attempt(app('/busy', '30s', ', retry_count: 3, retry_delay: 10s'), 'c8', scope, { signal: shutdown.signal, retryInRequest: true });
    expect(report.error).toEqual({ code: 'CALLHOOK_HTTP_NETWORK', message: 'request aborted' });
    expect(report.tries.map((t) => t.http_status)).toEqual([503, null]);
    expect(receiver.requests.length - before).toBe(1);
    expect(report.durationMs).toBeLessThan(1500);
  });
});

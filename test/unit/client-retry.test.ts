import { decideRetry, retryAfterMs, type AttemptOutcome } from '../../src/client/retry';
import { createClient } from '../../src/client';
import { DEFAULT_MAX_BODY_BYTES } from '../../src/client/client';
import { LIMITS } from '../../src/defaults';

const rules = { retries: 3, baseDelayMs: 100, maxDelayMs: 5000 };
const NOW = Date.parse('2026-11-29T10:00:00Z');
const answer = (status: number, retryAfter: string | null = null): AttemptOutcome => ({ kind: 'answer', status, retryAfter });
const network = (code?: string, bodyBytes?: number): AttemptOutcome => ({ kind: 'network', code, bodyBytes });
const MiB = 1024 * 1024;

describe('decideRetry: when the HTTP client sends a request again', () => {
  it.each([
    ['503 without Retry-After: backoff', answer(503), 1, true, { retry: true, delayMs: 100 }],
    ['503, third attempt: doubled twice', answer(503), 3, true, { retry: true, delayMs: 400 }],
    ['503 with Retry-After longer than the backoff', answer(503, '5'), 1, true, { retry: true, delayMs: 5000 }],
    ['503 with Retry-After shorter than the backoff', answer(503, '0'), 2, true, { retry: true, delayMs: 200 }],
    ['503 with an HTTP-date Retry-After', answer(503, 'Sun, 29 Nov 2026 10:00:02 GMT'), 1, true, { retry: true, delayMs: 2000 }],
    ['503 asking for more than the cap', answer(503, '3600'), 1, true, { retry: true, delayMs: 5000 }],
    ['503 on a non-idempotent request: the API changed nothing', answer(503), 1, false, { retry: true, delayMs: 100 }],
    ['503 after the last retry', answer(503), 4, true, { retry: false }],
    ['400: the answer', answer(400), 1, true, { retry: false }],
    ['409: the answer', answer(409), 1, true, { retry: false }],
    ['500: not retried (nothing says it is safe)', answer(500), 1, true, { retry: false }],
    ['connection reset, idempotent', network('ECONNRESET'), 1, true, { retry: true, delayMs: 100 }],
    ['timeout, idempotent', network('TIMEOUT'), 2, true, { retry: true, delayMs: 200 }],
    ['connection reset, not idempotent: the request may have been done', network('ECONNRESET'), 1, false, { retry: false }],
    ['timeout, not idempotent', network('TIMEOUT'), 1, false, { retry: false }],
    ['connection refused, not idempotent: never sent', network('ECONNREFUSED'), 1, false, { retry: true, delayMs: 100 }],
    ['DNS failure, not idempotent: never sent', network('ENOTFOUND'), 1, false, { retry: true, delayMs: 100 }],
    ['unknown network error, not idempotent', network(undefined), 1, false, { retry: false }],
    ['broken pipe of a 1 MiB body, idempotent: a size refused, not resent', network('EPIPE', MiB), 1, true, { retry: false }],
    ['connection reset of a 16 MiB body, idempotent: not resent', network('ECONNRESET', 16 * MiB), 1, true, { retry: false }],
    ['connection reset of a small body, idempotent', network('ECONNRESET', MiB - 1), 1, true, { retry: true, delayMs: 100 }],
    ['timeout of a large body, idempotent', network('TIMEOUT', 16 * MiB), 1, true, { retry: true, delayMs: 100 }],
    ['connection refused with a large body: never sent', network('ECONNREFUSED', 16 * MiB), 1, false, { retry: true, delayMs: 100 }],
  ])('%s', (_name, outcome, attempts, idempotent, expected) => {
    expect(decideRetry(outcome, attempts, { ...rules, idempotent }, NOW)).toEqual(expected);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('7', NOW)).toBe(7000);
    expect(retryAfterMs('Sun, 29 Nov 2026 09:59:00 GMT', NOW)).toBe(0);
    expect(retryAfterMs('soon', NOW)).toBeUndefined();
    expect(retryAfterMs(null, NOW)).toBeUndefined();
  });
});

describe('client options', () => {
  it('maxBodyBytes is by default the API\'s limit for a batch', () => {
    expect(DEFAULT_MAX_BODY_BYTES).toBe(LIMITS.batchBodyBytes);
  });

  it('an option given as undefined keeps its default; one no request could use is refused at once', async () => {
    const attempts: string[] = [];
    const failing = (async (url: string) => {
      attempts.push(url);
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    }) as unknown as typeof fetch;
    const client = createClient({ url: 'http://127.0.0.1:9', retries: undefined, retryDelayMs: 1, timeoutMs: undefined, fetch: failing });
    await expect(client.getCall('c1')).rejects.toThrow();
    expect(attempts).toHaveLength(6); // the default 5 retries, not endless
    expect(() => createClient({ url: 'http://h', retries: Number('x') })).toThrow('callhook client: retries must be a number of at least 0, not NaN');
    expect(() => createClient({ url: 'http://h', timeoutMs: 0 })).toThrow(/timeoutMs must be a number of at least 1/);
    expect(() => createClient({ url: 'http://admin:hunter2@h' })).toThrow('callhook client: url holds a password; give the API token as `token` instead');
  });

  it('refuses at once a URL or token fetch would refuse on every attempt (it was retried for 15 s as a network error)', () => {
    expect(() => createClient({ url: 'localhost:8080' })).toThrow('callhook client: url must be an http:// or https:// URL such as http://127.0.0.1:8080, not one with the scheme localhost:');
    expect(() => createClient({ url: 'ftp://h' })).toThrow(/not one with the scheme ftp:$/);
    expect(() => createClient({ url: '127.0.0.1:8080' })).toThrow(/^callhook client: url must be an http:\/\/ or https:\/\/ URL such as http:\/\/127\.0\.0\.1:8080$/);
    expect(() => createClient({ url: 'http://admin@h' })).toThrow('callhook client: url holds a user name (user@host); give the API token as `token` instead');
    expect(() => createClient({ url: 'http://h/?x=1' })).toThrow('callhook client: url must have no query or fragment (each path is added after it)');
    expect(() => createClient({ url: 'https://h/callhook/' })).not.toThrow();

    const pasted = (() => { try { createClient({ url: 'http://h', token: 'secret\u2019token' }); } catch (error) { return error as Error; } })();
    expect(pasted).toBeInstanceOf(TypeError);
    expect(pasted?.message).toBe("callhook client: token holds \u2019 (U+2019) at index 6, which an HTTP header cannot carry: was a ' or \" changed when it was pasted?");
    expect(() => createClient({ url: 'http://h', token: 'a\u0000b' })).toThrow('callhook client: token holds (U+0000) at index 1, which an HTTP header cannot carry');
    expect(() => createClient({ url: 'http://h', token: ' a\nb' })).toThrow('token holds (U+000A) at index 2');
    expect(() => createClient({ url: 'http://h', token: 'a\u{1F600}' })).toThrow('token holds \u{1F600} (U+1F600) at index 1');
    // What fetch sends: Latin-1, and the whitespace around a token read from a file (trimmed).
    for (const token of ['t\u00e9k', 'a b', 'token\n', '\ttoken']) expect(() => createClient({ url: 'http://h', token })).not.toThrow();
  });
});

import { backoffDelay, decideRetry, MAX_RETRY_AFTER_MS, parseRetryAfter } from '../../src/webhook/retry-policy';

describe('decideRetry', () => {
  const none = new Set<number>();
  it.each([
    [200, 'success'], [204, 'success'], [301, 'give-up'], [400, 'give-up'], [401, 'give-up'], [404, 'give-up'],
    [429, 'give-up'], [500, 'retry'], [502, 'retry'], [503, 'retry'], [504, 'retry'],
  ])('HTTP %i → %s', (status, action) => {
    expect(decideRetry({ kind: 'response', status }, none).action).toBe(action);
  });
  it('retries 429 only when the app lists it', () => {
    expect(decideRetry({ kind: 'response', status: 429 }, new Set([429])).action).toBe('retry');
  });
  it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND'])('retries network error %s', (code) => {
    expect(decideRetry({ kind: 'network', code }, none).action).toBe('retry');
  });
  it('gives up on fatal errors', () => {
    expect(decideRetry({ kind: 'fatal', code: 'template' }, none).action).toBe('give-up');
  });
  it('passes Retry-After on', () => {
    expect(decideRetry({ kind: 'response', status: 503, retryAfterMs: 7000 }, none)).toEqual({ action: 'retry', afterMs: 7000 });
  });
});

describe('backoffDelay', () => {
  it('doubles from retry_delay: 1 s, 2 s, 4 s', () => {
    expect([1, 2, 3].map((n) => backoffDelay(n, 1000))).toEqual([1000, 2000, 4000]);
  });
  it('honours a longer Retry-After, capped at 5 minutes', () => {
    expect(backoffDelay(1, 1000, 500)).toBe(1000);
    expect(backoffDelay(1, 1000, 30_000)).toBe(30_000);
    expect(backoffDelay(1, 1000, 3_600_000)).toBe(MAX_RETRY_AFTER_MS);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('120')).toBe(120_000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

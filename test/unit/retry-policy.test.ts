import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseRetryAfter } from '../../src/util/retry-after';
import { backoffDelay, longestSchedule, MAX_BACKOFF_MS, MAX_RETRY_AFTER_MS } from '../../src/util/backoff';
import { decideAttempt, type RetryRule } from '../../src/webhook/retry-policy';

const rule = (overrides: Partial<RetryRule> = {}): RetryRule => ({ retryCount: 3, retryDelayMs: 1000, retryOnStatus: new Set(), retryJitter: 0, ...overrides });

describe('decideAttempt', () => {
  it.each([
    [200, 'success'], [204, 'success'], [301, 'give-up'], [400, 'give-up'], [401, 'give-up'], [404, 'give-up'],
    [429, 'give-up'], [500, 'retry'], [502, 'retry'], [503, 'retry'], [504, 'retry'],
  ])('HTTP %i → %s', (status, action) => {
    expect(decideAttempt({ kind: 'response', status }, rule(), 1).action).toBe(action);
  });
  it('retries 429 only when the app lists it', () => {
    expect(decideAttempt({ kind: 'response', status: 429 }, rule({ retryOnStatus: new Set([429]) }), 1).action).toBe('retry');
  });
  it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND'])('retries network error %s', (code) => {
    expect(decideAttempt({ kind: 'network', code }, rule(), 1).action).toBe('retry');
  });
  it('gives up on fatal errors', () => {
    expect(decideAttempt({ kind: 'fatal', code: 'template' }, rule(), 1).action).toBe('give-up');
  });
  it('waits retry_delay × 2^(n−1), and gives up once retry_count retries are spent', () => {
    const decisions = [1, 2, 3, 4].map((n) => decideAttempt({ kind: 'response', status: 503 }, rule(), n));
    expect(decisions).toEqual([
      { action: 'retry', delayMs: 1000 },
      { action: 'retry', delayMs: 2000 },
      { action: 'retry', delayMs: 4000 },
      { action: 'give-up' },
    ]);
  });
  it('honours a longer Retry-After', () => {
    expect(decideAttempt({ kind: 'response', status: 503, retryAfterMs: 7000 }, rule(), 1)).toEqual({ action: 'retry', delayMs: 7000 });
  });
  it('a 401 to a cached OAuth2 token asks for a fresh one, once', () => {
    expect(decideAttempt({ kind: 'response', status: 401 }, rule(), 1, true)).toEqual({ action: 'refresh-auth' });
    expect(decideAttempt({ kind: 'response', status: 401 }, rule(), 1, false)).toEqual({ action: 'give-up' });
  });
});

describe('retry jitter', () => {
  it('moves each delay by up to ±retry_jitter; a longer Retry-After only by up to +retry_jitter, never below it', () => {
    const jittered = rule({ retryJitter: 0.2 });
    const at = (r: number, n = 1, retryAfterMs?: number) => decideAttempt({ kind: 'response', status: 503, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) }, jittered, n, false, () => r);
    expect([0, 0.5, 1].map((r) => at(r))).toEqual([{ action: 'retry', delayMs: 800 }, { action: 'retry', delayMs: 1000 }, { action: 'retry', delayMs: 1200 }]);
    expect(at(0, 3)).toEqual({ action: 'retry', delayMs: 3200 });
    expect([0, 0.25, 0.5, 1].map((r) => at(r, 1, 5000))).toEqual([6000, 5500, 5000, 6000].map((delayMs) => ({ action: 'retry', delayMs })));
  });
  it('spreads calls that failed together (default ±20 %), and retry_jitter: 0 keeps them exact', () => {
    const delays = Array.from({ length: 1000 }, () => (decideAttempt({ kind: 'network', code: 'ECONNRESET' }, rule({ retryJitter: 0.2 }), 1) as { delayMs: number }).delayMs);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(800);
    expect(Math.max(...delays)).toBeLessThanOrEqual(1200);
    expect(new Set(delays).size).toBeGreaterThan(100);
    expect(decideAttempt({ kind: 'network', code: 'ECONNRESET' }, rule(), 1)).toEqual({ action: 'retry', delayMs: 1000 });
  });
});

describe('backoffDelay', () => {
  it('doubles from retry_delay: 1 s, 2 s, 4 s', () => {
    expect([1, 2, 3].map((n) => backoffDelay(n, 1000))).toEqual([1000, 2000, 4000]);
  });
  it('stops doubling at an hour, jitter still spreading the retries', () => {
    expect(backoffDelay(20, 1000)).toBe(MAX_BACKOFF_MS);
    expect(backoffDelay(2, 3_600_000)).toBe(MAX_BACKOFF_MS);
    expect(backoffDelay(20, 1000, undefined, -0.2)).toBe(0.8 * MAX_BACKOFF_MS);
    // At most an hour with the jitter too: the cap comes after it (72 minutes before).
    expect(backoffDelay(20, 3_600_000, undefined, 0.2)).toBe(MAX_BACKOFF_MS);
    expect(backoffDelay(1, 3_300_000, undefined, 0.2)).toBe(MAX_BACKOFF_MS); // 55 min + 20 % is over the hour
    expect(backoffDelay(12, 1000)).toBe(2048 * 1000); // under the cap: doubled as before
  });
  it('honours a longer Retry-After, capped at 5 minutes', () => {
    expect(backoffDelay(1, 1000, 500)).toBe(1000);
    expect(backoffDelay(1, 1000, 30_000)).toBe(30_000);
    expect(backoffDelay(1, 1000, 3_600_000)).toBe(MAX_RETRY_AFTER_MS);
  });
});

describe('longestSchedule', () => {
  it('adds every attempt\'s timeout and every wait at its longest (Retry-After at its cap)', () => {
    expect(longestSchedule({ ...rule({ retryCount: 0 }), timeoutMs: 30_000 })).toBe(30_000);
    expect(longestSchedule({ ...rule({ retryCount: 2 }), timeoutMs: 1000 })).toBe(3 * 1000 + 2 * MAX_RETRY_AFTER_MS);
    expect(longestSchedule({ ...rule({ retryCount: 20, retryJitter: 0 }), timeoutMs: 1000 })).toBeLessThan(20 * MAX_BACKOFF_MS);
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
  it('reads all three HTTP-date forms as GMT, whatever the server\'s time zone (asctime names none)', () => {
    // A zone applies from a process's start: a child process runs the build (npm test builds first).
    const script = `const { parseRetryAfter } = require(${JSON.stringify(join(__dirname, '../../dist/src/util/retry-after.js'))});
      const now = Date.parse('2026-01-01T00:00:00Z');
      const dates = ['Thu, 01 Jan 2026 00:02:00 GMT', 'Thursday, 01-Jan-26 00:02:00 GMT', 'Thu Jan  1 00:02:00 2026'];
      console.log(JSON.stringify([new Date(now).getHours(), ...dates.map((date) => parseRetryAfter(date, now))]));`;
    const output = execFileSync(process.execPath, ['-e', script], { env: { ...process.env, TZ: 'America/Chicago' } }).toString();
    expect(JSON.parse(output)).toEqual([18, 120_000, 120_000, 120_000]); // 18: the zone is in force
  });
});

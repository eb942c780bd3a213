/** What one attempt of an app ended with, as far as retrying is concerned. */
export type AttemptOutcome =
  | { kind: 'response'; status: number; retryAfterMs?: number }
  | { kind: 'network'; code: string }
  | { kind: 'fatal'; code: string };

export type RetryDecision = { action: 'success' } | { action: 'retry'; afterMs?: number } | { action: 'give-up' };

/** `Retry-After` is honoured up to this. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * The single place that decides retries: 2xx succeeds; 5xx, network errors (refused, reset,
 * DNS, timeout) and statuses the app lists (429...) are retried; every other 4xx, 3xx and
 * fatal error (template, response too large) gives up at once.
 */
export function decideRetry(outcome: AttemptOutcome, retryOnStatus: ReadonlySet<number>): RetryDecision {
  switch (outcome.kind) {
    case 'response': {
      const { status } = outcome;
      if (status >= 200 && status < 300) return { action: 'success' };
      if (status >= 500 || retryOnStatus.has(status)) {
        return outcome.retryAfterMs === undefined ? { action: 'retry' } : { action: 'retry', afterMs: outcome.retryAfterMs };
      }
      return { action: 'give-up' };
    }
    case 'network':
      return { action: 'retry' };
    case 'fatal':
      return { action: 'give-up' };
  }
}

/** Delay before retry n (1-based): `retryDelay × 2^(n−1)`, or Retry-After when longer (capped). */
export function backoffDelay(retryNumber: number, retryDelayMs: number, retryAfterMs?: number): number {
  const exponential = retryDelayMs * 2 ** Math.max(0, retryNumber - 1);
  if (retryAfterMs === undefined) return exponential;
  return Math.max(exponential, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}

/** Parses `Retry-After` (delta seconds or an HTTP date) into ms from `now`. */
export function parseRetryAfter(header: unknown, now = Date.now()): number | undefined {
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

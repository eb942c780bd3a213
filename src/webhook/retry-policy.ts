/** What one attempt of an app ended with, as far as retrying is concerned. */
export type AttemptOutcome =
  | { kind: 'response'; status: number; retryAfterMs?: number }
  | { kind: 'network'; code: string }
  | { kind: 'fatal'; code: string };

/**
 * What to do after an attempt: it succeeded; send it again at once with a fresh OAuth2 token
 * (a 401 while the token may have been revoked early; not counted as a retry); retry it after
 * `delayMs`; or give up.
 */
export type Decision = { action: 'success' } | { action: 'refresh-auth' } | { action: 'retry'; delayMs: number } | { action: 'give-up' };

/** The parts of an app that retrying depends on. */
export interface RetryRule {
  /** Retries after the first attempt. */
  readonly retryCount: number;
  /** First retry delay in ms, doubled for each further retry. */
  readonly retryDelayMs: number;
  /** Statuses retried besides 5xx (such as 429). */
  readonly retryOnStatus: ReadonlySet<number>;
  /** Delays vary by up to this fraction either way (0.2: ±20 %). */
  readonly retryJitter: number;
}

/** `Retry-After` is honoured up to this. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** The doubling stops here: retry 20 of a 1 s delay was 6 days away, of a 1 h delay 60 years. */
export const MAX_BACKOFF_MS = 60 * 60_000;

/**
 * The one place that decides "retry, and when" from an attempt's outcome, for queued calls (a
 * BullMQ delayed retry) and for real-time apps and Call Test (axios-retry in the request) alike.
 * 2xx succeeds; 5xx, network errors (refused, reset, DNS, timeout) and the statuses the app
 * lists (429...) are retried while attempts are left; every other 4xx, 3xx and fatal error
 * (template, response too large) gives up at once.
 * @param attempt 1-based number of the attempt that produced `outcome`.
 * @param canRefreshAuth the attempt carried a cached OAuth2 token that has not been refreshed yet.
 */
export function decideAttempt(outcome: AttemptOutcome, rule: RetryRule, attempt: number, canRefreshAuth = false, random = Math.random): Decision {
  if (outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300) return { action: 'success' };
  if (outcome.kind === 'response' && outcome.status === 401 && canRefreshAuth) return { action: 'refresh-auth' };
  if (!isRetryable(outcome, rule.retryOnStatus) || attempt > rule.retryCount) return { action: 'give-up' };
  const retryAfterMs = outcome.kind === 'response' ? outcome.retryAfterMs : undefined;
  return { action: 'retry', delayMs: backoffDelay(attempt, rule.retryDelayMs, retryAfterMs, rule.retryJitter * (2 * random() - 1)) };
}

function isRetryable(outcome: AttemptOutcome, retryOnStatus: ReadonlySet<number>): boolean {
  switch (outcome.kind) {
    case 'response':
      return outcome.status >= 500 || retryOnStatus.has(outcome.status);
    case 'network':
      return true;
    case 'fatal':
      return false;
  }
}

/**
 * Delay before retry n (1-based): `retryDelay × 2^(n−1)`, moved by `jitter` (a fraction, -0.2 to
 * 0.2 for ±20 %) so that calls that failed together do not retry together, and at most an hour
 * with the jitter (capped after it: at the cap, jitter only shortens); or Retry-After when
 * longer (capped), plus up to the same fraction of it: a receiver's own wait is never shortened,
 * and calls told the same Retry-After do not all come back in the same millisecond. At least
 * 1 ms: `retry_in_ms` 0 in an attempt log means only the resend with a fresh OAuth2 token
 * (runner, attemptsIn).
 */
export function backoffDelay(retryNumber: number, retryDelayMs: number, retryAfterMs?: number, jitter = 0): number {
  const doubled = Math.min(retryDelayMs * 2 ** Math.max(0, retryNumber - 1), MAX_BACKOFF_MS);
  const exponential = Math.max(1, Math.min(MAX_BACKOFF_MS, Math.round(doubled * (1 + jitter))));
  if (retryAfterMs === undefined) return exponential;
  const asked = Math.min(retryAfterMs, MAX_RETRY_AFTER_MS);
  return asked > exponential ? Math.round(asked * (1 + Math.abs(jitter))) : exponential;
}

/**
 * The longest time an app can spend from its first attempt to its last, timeouts and waits
 * included, when every retry is honoured at its longest (Retry-After at its cap).
 */
export function longestSchedule(rule: RetryRule & { readonly timeoutMs: number }): number {
  let total = rule.timeoutMs;
  for (let n = 1; n <= rule.retryCount; n++) total += backoffDelay(n, rule.retryDelayMs, MAX_RETRY_AFTER_MS, rule.retryJitter) + rule.timeoutMs;
  return total;
}


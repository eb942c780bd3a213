/*
 * How long retries wait: the backoff of webhook/retry-policy, and the longest an app's retries can
 * take (policies/compile makes it the default circuit.max_wait, so it lives below both).
 */

/** `Retry-After` is honoured up to this. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** The doubling stops here: retry 20 of a 1 s delay was 6 days away, of a 1 h delay 60 years. */
export const MAX_BACKOFF_MS = 60 * 60_000;

/** What an app's retry schedule depends on. */
export interface RetrySchedule {
  /** Retries after the first attempt. */
  readonly retryCount: number;
  /** First retry delay in ms, doubled for each further retry. */
  readonly retryDelayMs: number;
  /** Delays vary by up to this fraction either way (0.2: ±20 %). */
  readonly retryJitter: number;
  /** Each attempt's timeout. */
  readonly timeoutMs: number;
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
export function longestSchedule(rule: RetrySchedule): number {
  let total = rule.timeoutMs;
  for (let n = 1; n <= rule.retryCount; n++) total += backoffDelay(n, rule.retryDelayMs, MAX_RETRY_AFTER_MS, rule.retryJitter) + rule.timeoutMs;
  return total;
}


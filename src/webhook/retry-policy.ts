import { backoffDelay } from '../util/backoff';

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

/**
 * The one place that decides "retry, and when" from an attempt's outcome, for queued calls (a
 * BullMQ delayed retry) and for real-time apps and Call Test (axios-retry in the request) alike.
 * 2xx succeeds; 5xx, network errors (refused, reset, DNS, timeout) and the statuses the app
 * lists (429...) are retried while attempts are left; every other 4xx, 3xx and fatal error
 * (template, response too large) gives up at once.
 * @param attempt 1-based number of the attempt that produced `outcome`.
 * @param canRefreshAuth a 401 may be answered with a fresh OAuth2 token (AttemptReport.refreshable, once per attempt).
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

import { parseRetryAfter } from '../util/retry-after';

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export { parseRetryAfter as retryAfterMs };

/**
 * When the HTTP client tries a request again, decided from data (as webhook/retry-policy.ts
 * decides for apps): an outcome and the attempts so far in, retry after a delay or stop out.
 */

/** What one attempt ended with. */
export type AttemptOutcome =
  /** The API answered. `retryAfter` is its Retry-After header, if any. */
  | { kind: 'answer'; status: number; retryAfter: string | null }
  /** No answer: `code` is the socket error (ECONNREFUSED, ECONNRESET...) or TIMEOUT; `bodyBytes`, the size of the body sent. */
  | { kind: 'network'; code: string | undefined; bodyBytes?: number | undefined };

export interface RetryRules {
  /** Retries after the first attempt. */
  retries: number;
  /** First retry delay, doubled each time. */
  baseDelayMs: number;
  /** Longest wait, Retry-After included. */
  maxDelayMs: number;
  /**
   * Whether sending the request twice does no harm: reads, and POST /v1/calls with a call_id
   * (a call_id queued before answers `duplicate`). Replay, real-time and Call Test are not: a
   * lost answer may hide a replay that was queued, or apps that were sent.
   */
  idempotent: boolean;
}

export type RetryDecision = { retry: true; delayMs: number } | { retry: false };

/** Errors that mean the request never reached the API, so even a non-idempotent one can be resent. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Errors of a connection the other side closed while the body was still being written. */
const BROKEN_WHILE_SENDING = new Set(['EPIPE', 'ECONNRESET']);

/**
 * A body this large whose connection broke while it was sent is not resent: a server or proxy
 * refusing its size closes so (a proxy's body limit), and each retry uploaded it all again for
 * the same end (70 events of 250 KiB: 6 uploads of 18 MB, 17 s, then EPIPE anyway).
 */
export const LARGE_BODY_BYTES = 1024 * 1024;

/** Whether a network error is a large body's connection broken while it was sent (see LARGE_BODY_BYTES). */
export function brokenWhileSendingLargeBody(outcome: AttemptOutcome): boolean {
  return outcome.kind === 'network' && (outcome.bodyBytes ?? 0) >= LARGE_BODY_BYTES && outcome.code !== undefined && BROKEN_WHILE_SENDING.has(outcome.code);
}

/**
 * 503 (Redis unavailable: the API changed nothing) is retried for every request, after
 * Retry-After when it asks for longer than the backoff. Network errors and timeouts are retried
 * for idempotent requests, and for the others only when the request was never sent; a body of
 * LARGE_BODY_BYTES or more whose connection broke (EPIPE, ECONNRESET) is not resent. Anything
 * else is the answer.
 * @param attempts attempts made so far (1 after the first)
 */
export function decideRetry(outcome: AttemptOutcome, attempts: number, rules: RetryRules, now: number = Date.now()): RetryDecision {
  if (attempts > rules.retries) return { retry: false };
  const backoff = Math.min(rules.baseDelayMs * 2 ** (attempts - 1), rules.maxDelayMs);
  if (outcome.kind === 'answer') {
    if (outcome.status !== 503) return { retry: false };
    const asked = parseRetryAfter(outcome.retryAfter, now);
    return { retry: true, delayMs: Math.min(Math.max(backoff, asked ?? 0), rules.maxDelayMs) };
  }
  if (brokenWhileSendingLargeBody(outcome)) return { retry: false };
  if (rules.idempotent || (outcome.code !== undefined && NOT_SENT.has(outcome.code))) return { retry: true, delayMs: backoff };
  return { retry: false };
}

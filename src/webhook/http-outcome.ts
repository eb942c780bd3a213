import type { AxiosError, AxiosResponse } from 'axios';
import type { IAxiosRetryConfig, IAxiosRetryConfigExtended } from 'axios-retry';
import type { ErrorCode } from '../errors';
import type { WebhookApp } from '../policies/types';
import { decideAttempt, parseRetryAfter, type AttemptOutcome } from './retry-policy';

/*
 * What an HTTP exchange came to, as an AttemptOutcome and an error code, and the axios-retry
 * settings that apply decideAttempt inside a request (real-time apps, Call Test).
 */

/** Network error codes after which the same request may succeed. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNABORTED',
  'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'ERR_SOCKET_CONNECTION_TIMEOUT', 'UND_ERR_SOCKET',
]);

/** The cancel message of an app's deadline (see send), telling it apart from a shutdown abort. */
export const DEADLINE_EXCEEDED = 'callhook: app deadline exceeded';

/** A response's outcome; its Retry-After, when present, is read here and nowhere else. */
export function responseOutcome(response: Pick<AxiosResponse, 'status' | 'headers'>): AttemptOutcome {
  const retryAfterMs = parseRetryAfter(response.headers['retry-after']);
  return retryAfterMs === undefined ? { kind: 'response', status: response.status } : { kind: 'response', status: response.status, retryAfterMs };
}

/**
 * axios-retry settings that apply decideAttempt within the deadline (`deadlineAt`, epoch ms).
 * axios-retry's waits listen to `signal` only, not to the deadline's CancelToken: what keeps a
 * wait inside the deadline is retryCondition starting no retry that could not finish in time.
 */
export function inRequestRetries(app: WebhookApp, deadlineAt: number): IAxiosRetryConfig {
  const decide = (error: AxiosError, attempt: number) =>
    decideAttempt(error.response ? responseOutcome(error.response) : classifyError(error, app).outcome, app, attempt);
  return {
    retries: app.retryCount,
    validateResponse: (response) => decideAttempt(responseOutcome(response), app, 1).action !== 'retry',
    retryCondition: (error) => {
      if (error.code === 'ERR_CANCELED') return false;
      // Asked before axios-retry counts the retry: the failed attempt is retries so far + 1.
      const decision = decide(error, requestsMade(error.config));
      // Waiting past the deadline only to be aborted would waste the receiver's time too.
      return decision.action === 'retry' && Date.now() + decision.delayMs < deadlineAt;
    },
    // Retry n follows attempt n.
    retryDelay: (retryNumber, error) => {
      const decision = decide(error, retryNumber);
      return decision.action === 'retry' ? decision.delayMs : 0;
    },
  };
}

/** Requests axios-retry made for one exchange: 1, plus its retries. */
export function requestsMade(config: { 'axios-retry'?: unknown } | undefined): number {
  return 1 + ((config?.['axios-retry'] as IAxiosRetryConfigExtended | undefined)?.retryCount ?? 0);
}

export function classifyError(
  error: AxiosError,
  app: WebhookApp,
): { outcome: AttemptOutcome; code: ErrorCode; message: string } {
  if (error.code === 'ERR_CANCELED') {
    if (error.message === DEADLINE_EXCEEDED) {
      return { outcome: { kind: 'network', code: 'ETIMEDOUT' }, code: 'CALLHOOK_HTTP_TIMEOUT', message: `no response within ${app.timeoutMs} ms` };
    }
    return { outcome: { kind: 'network', code: 'ABORTED' }, code: 'CALLHOOK_HTTP_NETWORK', message: 'request aborted' };
  }
  if (/maxContentLength/i.test(error.message)) {
    return {
      outcome: { kind: 'fatal', code: 'too-large' },
      code: 'CALLHOOK_RESPONSE_TOO_LARGE',
      message: `response is larger than max_response_bytes (${app.maxResponseBytes})`,
    };
  }
  const code = error.code ?? (error.cause as { code?: string } | undefined)?.code ?? 'UNKNOWN';
  if (NETWORK_CODES.has(code) || (error.request && !error.response && code !== 'ERR_INVALID_CHAR')) {
    const timeout = code === 'ETIMEDOUT' || code === 'ECONNABORTED';
    return {
      outcome: { kind: 'network', code },
      code: timeout ? 'CALLHOOK_HTTP_TIMEOUT' : 'CALLHOOK_HTTP_NETWORK',
      message: `${code}: ${error.message}`,
    };
  }
  return { outcome: { kind: 'fatal', code }, code: 'CALLHOOK_HTTP_NETWORK', message: `${code}: ${error.message}` };
}

import type { AxiosError } from 'axios';
import type { IAxiosRetryConfig } from 'axios-retry';
import type { ErrorCode } from '../errors';
import type { WebhookApp } from '../policies/types';
import { backoffDelay, decideRetry, parseRetryAfter, type AttemptOutcome } from './retry-policy';

/*
 * How an axios failure maps to a retry outcome and an error code, and the axios-retry settings
 * that apply the same rules inside a request (real-time apps, Call Test).
 */

/** Network error codes after which the same request may succeed. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNABORTED',
  'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'ERR_SOCKET_CONNECTION_TIMEOUT', 'UND_ERR_SOCKET',
]);

/** The cancel message of an app's deadline (see send), telling it apart from a shutdown abort. */
export const DEADLINE_EXCEEDED = 'callhook: app deadline exceeded';

/**
 * axios-retry settings that apply decideRetry and backoffDelay, within the attempt's deadline
 * (`deadlineAt`, epoch ms). axios-retry's waits listen to `signal` only, not to the deadline's
 * CancelToken: what keeps a wait inside the deadline is retryCondition starting no retry that
 * could not finish in time.
 */
export function inRequestRetries(app: WebhookApp, deadlineAt: number, retries: { count: number }): IAxiosRetryConfig {
  const delayFor = (retryNumber: number, error: AxiosError) =>
    backoffDelay(retryNumber, app.retryDelayMs, parseRetryAfter(error.response?.headers['retry-after']));
  return {
    retries: app.retryCount,
    validateResponse: (response) => decideRetry({ kind: 'response', status: response.status }, app.retryOnStatus).action !== 'retry',
    retryCondition: (error) => {
      if (error.code === 'ERR_CANCELED') return false;
      const outcome = outcomeOf(error, app);
      if (decideRetry(outcome, app.retryOnStatus).action !== 'retry') return false;
      // Waiting past the deadline only to be aborted would waste the receiver's time too.
      return Date.now() + delayFor(retries.count + 1, error) < deadlineAt;
    },
    retryDelay: (retryNumber, error) => delayFor(retryNumber, error),
    onRetry: (retryNumber) => {
      retries.count = retryNumber;
    },
  };
}

function outcomeOf(error: AxiosError, app: WebhookApp): AttemptOutcome {
  if (error.response) return { kind: 'response', status: error.response.status };
  return classifyError(error, app).outcome;
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

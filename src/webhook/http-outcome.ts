import type { AxiosError, AxiosResponse } from 'axios';
import type { IAxiosRetryConfig } from 'axios-retry';
import type { ErrorCode } from '../errors';
import type { AttemptLogEntry } from '../model/call';
import type { WebhookApp } from '../policies/types';
import { parseRetryAfter } from '../util/retry-after';
import { decideAttempt, type AttemptOutcome } from './retry-policy';

/*
 * What an HTTP exchange came to, as an AttemptOutcome and an error code, and the axios-retry
 * settings that apply decideAttempt inside a request (real-time apps, Call Test).
 */

/** Network error codes after which the same request may succeed. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNABORTED',
  'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'ERR_SOCKET_CONNECTION_TIMEOUT', 'UND_ERR_SOCKET',
]);

/** The cancel message of an app's deadline (see send), telling it apart from a shutdown abort; the budget in ms follows. */
export const DEADLINE_EXCEEDED = 'callhook: app deadline exceeded after ';

/** A response's outcome; its Retry-After, when present, is read here and nowhere else. */
export function responseOutcome(response: Pick<AxiosResponse, 'status' | 'headers'>): AttemptOutcome {
  const retryAfterMs = parseRetryAfter(response.headers['retry-after']);
  return retryAfterMs === undefined ? { kind: 'response', status: response.status } : { kind: 'response', status: response.status, retryAfterMs };
}

/** The tries of one exchange as they happen: each retried one is logged here, the last by the sender. */
export interface TryLog {
  readonly entries: AttemptLogEntry[];
  /** When the try in progress started (epoch ms). */
  startedAt: number;
}

/** A try that ended with `error` (a response or a network failure), for the attempts log. */
export function loggedTry(log: TryLog, httpStatus: number | null, error: AttemptLogEntry['error'], retryInMs: number | null): AttemptLogEntry {
  return { at: new Date(log.startedAt).toISOString(), http_status: httpStatus, duration_ms: Date.now() - log.startedAt, error, retry_in_ms: retryInMs };
}

/**
 * Whether a response status ends the exchange (axios resolves it) or goes to axios-retry (a
 * status decideAttempt would retry). Used as axios's validateStatus rather than axios-retry's
 * validateResponse, which sends every response through the error path: an AxiosError with a
 * stack trace per request, the largest single cost of a real-time app in a CPU profile.
 */
export function endsExchange(app: WebhookApp): (status: number) => boolean {
  return (status) => decideAttempt({ kind: 'response', status }, app, 1).action !== 'retry';
}

/**
 * axios-retry settings that apply decideAttempt within the deadline (`deadlineAt`, epoch ms),
 * logging each try that is retried. axios-retry's waits listen to `signal` only, not to the
 * deadline's CancelToken: what keeps a wait inside the deadline is retryCondition starting no
 * retry that could not finish in time.
 */
export function inRequestRetries(app: WebhookApp, deadlineAt: number, log: TryLog): IAxiosRetryConfig {
  // The delay logged is the delay waited: decided once per retry (the jitter is random).
  let nextDelayMs = 0;
  return {
    retries: app.retryCount,
    retryCondition: (error) => {
      if (error.code === 'ERR_CANCELED') return false;
      const answer = refusedAnswer(error, app, true);
      // The failed attempt is the one after those already logged.
      const decision = decideAttempt(answer ? responseOutcome(answer) : classifyError(error, app).outcome, app, log.entries.length + 1);
      // Waiting past the deadline only to be aborted would waste the receiver's time too.
      if (decision.action !== 'retry' || Date.now() + decision.delayMs >= deadlineAt) return false;
      const failed = answer ? { code: 'CALLHOOK_HTTP_STATUS' as const, message: `HTTP ${answer.status}` } : classifyError(error, app);
      log.entries.push(loggedTry(log, answer?.status ?? null, { code: failed.code, message: failed.message }, decision.delayMs));
      log.startedAt = Date.now() + decision.delayMs;
      nextDelayMs = decision.delayMs;
      return true;
    },
    retryDelay: () => nextDelayMs,
  };
}

/**
 * The response an axios error carries when the error is axios refusing its status (validateStatus:
 * 2xx, or in a request that retries, endsExchange): an answer to judge. Undefined when the error
 * came after a status axios took, such as a body cut off mid-way: that is a network failure, not
 * an answer (it was recorded as a success with no data).
 */
export function refusedAnswer(error: AxiosError, app: WebhookApp, retryInRequest: boolean): AxiosResponse | undefined {
  const status = error.response?.status;
  if (status === undefined) return undefined;
  const taken = retryInRequest ? endsExchange(app)(status) : status >= 200 && status < 300;
  return taken ? undefined : error.response;
}

export function classifyError(
  error: AxiosError,
  app: WebhookApp,
): { outcome: AttemptOutcome; code: ErrorCode; message: string } {
  if (error.code === 'ERR_CANCELED') {
    if (error.message.startsWith(DEADLINE_EXCEEDED)) {
      return { outcome: { kind: 'network', code: 'ETIMEDOUT' }, code: 'CALLHOOK_HTTP_TIMEOUT', message: `no response within ${error.message.slice(DEADLINE_EXCEEDED.length)} ms` };
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
  if (error.response) {
    // The status line came, then the exchange broke (refusedAnswer): the response was cut off.
    return { outcome: { kind: 'network', code: 'ECONNRESET' }, code: 'CALLHOOK_HTTP_NETWORK', message: `the response was cut off after HTTP ${error.response.status}: ${error.message}` };
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

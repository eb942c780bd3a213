import type { AppError, AppResult, AttemptLogEntry, RequestSummary } from '../model/call';
import type { Redactor } from '../util/redact';

/*
 * A result's own structure is never redacted, only the free text it carries. A request's
 * credentials are secrets for its result however ordinary they are (a query parameter `author`
 * is named like a credential and may render a caller's name, "failed"), so redacting the whole
 * result as text once turned `"status":"failed"` into `"[REDACTED]"` (the call then counted
 * as completed) and its keys into `[REDACTED]`. Free text: `data` (keys and values), `message`,
 * error messages, the request's URL and headers. Structure: the keys, `status`, numbers, times,
 * error codes, `unresolved` (template paths from the policies file), the request's method.
 * Copies only what changes: the worker redacts every result, and most need nothing hidden.
 */

/** The result with its free text redacted; the same object when nothing needs hiding. */
export function redactResult(result: AppResult, redactor: Redactor): AppResult {
  if (redactor.empty) return result;
  const data = redactor.deep(result.data);
  const message = redactor.text(result.message);
  const error = redactError(result.error, redactor);
  const attempts_log = redactAttempts(result.attempts_log, redactor);
  const request = redactRequest(result.request, redactor);
  if (data === result.data && message === result.message && error === result.error && attempts_log === result.attempts_log && request === result.request) return result;
  return { ...result, data, message, error, attempts_log, request };
}

/** An attempts log with each error's message redacted; the same array when nothing needs hiding. */
export function redactAttempts<Log extends readonly AttemptLogEntry[]>(log: Log, redactor: Redactor): Log {
  if (redactor.empty) return log;
  let out: AttemptLogEntry[] | undefined;
  for (let i = 0; i < log.length; i++) {
    const entry = log[i]!;
    const error = redactError(entry.error, redactor);
    if (error === entry.error) continue;
    out ??= log.slice();
    out[i] = { ...entry, error };
  }
  return (out ?? log) as Log;
}

function redactError(error: AppError | null, redactor: Redactor): AppError | null {
  if (!error) return error;
  const message = redactor.text(error.message);
  return message === error.message ? error : { ...error, message };
}

function redactRequest(request: RequestSummary | null, redactor: Redactor): RequestSummary | null {
  if (!request) return request;
  const url = redactor.text(request.url);
  const headers = redactor.deep(request.headers) as Record<string, string>;
  return url === request.url && headers === request.headers ? request : { ...request, url, headers };
}

import type { AppResult, AttemptLogEntry, RequestSummary } from '../model/call';
import type { WebhookApp } from '../policies/types';
import { renderCapped, type TemplateScope } from '../templates/engine';
import type { AttemptReport } from '../webhook/send';

/** `when` is false when it renders to "", false, 0, null or undefined (trimmed, any case). */
export function isTruthy(rendered: string): boolean {
  return !['', 'false', '0', 'null', 'undefined'].includes(rendered.trim().toLowerCase());
}

export function skippedResult(message: string, unresolved: string[] = []): AppResult {
  return { status: 'skipped', http_status: null, data: null, message, attempts: 0, duration_ms: 0, unresolved, error: null, attempts_log: [], request: null };
}

/**
 * The result of an app that must not run: `skipped` when an earlier app stopped the policy or its
 * `when` renders false, `failed` when its `when` cannot be rendered. Undefined when it should run.
 */
export function skipResult(app: WebhookApp, scope: TemplateScope, stoppedBy: string | undefined): AppResult | undefined {
  if (stoppedBy) return skippedResult(`not run: ${stoppedBy} failed and has on_failure: stop`);
  if (!app.when) return undefined;
  const unresolved = new Set<string>();
  let when: string;
  try {
    when = renderCapped(app.when, scope, app.maxRequestBytes, overLimit(app, '`when`'), unresolved);
  } catch (error) {
    const message = `\`when\` could not be rendered: ${(error as Error).message}`;
    return { ...skippedResult(message, [...unresolved]), status: 'failed', error: { code: 'CALLHOOK_TEMPLATE_RENDER', message } };
  }
  return isTruthy(when) ? undefined : skippedResult('`when` was false', [...unresolved]);
}

/** Turns an app's final attempt into its result, rendering `message` over the response. */
export function finalResult(
  app: WebhookApp,
  report: AttemptReport,
  scope: TemplateScope,
  history: { attempts: number; log: AttemptLogEntry[]; request: RequestSummary | null },
): AppResult {
  const success = report.error === null;
  const unresolved = new Set(report.unresolved);
  let message: string;
  const done = `HTTP ${report.httpStatus} in ${report.durationMs} ms`;
  if (success && app.message) {
    // The request went out and succeeded: a message that cannot be rendered does not undo that.
    try {
      message = renderCapped(app.message, { ...scope, data: report.data, http_status: report.httpStatus }, app.maxRequestBytes, overLimit(app, '`message`'), unresolved);
    } catch (error) {
      message = `${done} (\`message\` could not be rendered: ${(error as Error).message})`;
    }
  } else if (success) {
    message = done;
  } else {
    message = report.error?.message ?? 'failed';
  }
  return {
    status: success ? 'success' : 'failed',
    http_status: report.httpStatus,
    data: report.data,
    message,
    attempts: history.attempts,
    duration_ms: report.durationMs,
    unresolved: [...unresolved],
    error: report.error,
    attempts_log: history.log,
    request: history.request,
  };
}

/** `when` and `message` are held to max_request_bytes, as the request is: a loop over call data must not build megabytes to test or to store in every result. */
const overLimit = (app: WebhookApp, field: string) => () => new Error(`${field} renders more than max_request_bytes (${app.maxRequestBytes})`);

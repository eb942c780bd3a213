import type { CallEvent } from '../events/schema';
import type { Phase, Policy, WebhookApp } from '../policies/types';
import { sendAttempt, type RequestTrace, type SendDeps } from '../webhook/send';
import { noopObserver, type PipelineObserver } from './observer';
import { finalResult, skipResult, type AppResult } from './result';

/** One app run synchronously, with the request it sent (for Call Test). */
export interface AppRun {
  app: WebhookApp;
  result: AppResult;
  /** Undefined when the app was skipped or its templates failed before a request existed. */
  request: RequestTrace | undefined;
}

/**
 * Runs a policy's apps of the given phases now, inside the caller's request: real-time apps
 * first, then post-call apps, each in `order`. Retries happen in the request (axios-retry)
 * with the queue's rules, each app bounded by its timeout. Nothing is stored here.
 */
export async function runAppsNow(
  policy: Policy,
  event: CallEvent,
  phases: readonly Phase[],
  deps: SendDeps & { observer?: PipelineObserver },
  signal?: AbortSignal,
): Promise<AppRun[]> {
  const observer = deps.observer ?? noopObserver;
  const appData: Record<string, unknown> = { ...event.app_data };
  const scope = { event, app_data: appData };
  const runs: AppRun[] = [];
  let stoppedBy: string | undefined;
  const ordered = (['real_time', 'post_call'] as const).filter((p) => phases.includes(p)).flatMap((phase) => policy.apps.filter((a) => a.phase === phase));

  for (const app of ordered) {
    const context = { callId: event.call_id, policy: policy.id, app: app.slug };
    const skipped = skipResult(app, scope, stoppedBy);
    if (skipped) {
      observer.result(context, skipped);
      runs.push({ app, result: skipped, request: undefined });
      appData[app.slug] = skipped;
      continue;
    }
    const report = await sendAttempt(app, event.call_id, scope, deps, { signal, retryInRequest: true });
    const result = finalResult(app, report, report.attempts, scope);
    observer.attempt(context, result.status === 'success' ? 'success' : 'failed', report.durationMs, report.httpStatus);
    observer.result(context, result);
    if (result.status === 'failed' && app.onFailure === 'stop') stoppedBy = app.slug;
    runs.push({ app, result, request: report.request });
    appData[app.slug] = result;
  }
  return runs;
}

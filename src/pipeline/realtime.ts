import type { CallEvent } from '../events/schema';
import { resolvePolicy } from '../policies/resolve';
import type { CallhookConfig } from '../policies/types';
import type { CallStore } from '../store/call-store';
import type { SendDeps } from '../webhook/send';
import type { PipelineObserver } from './observer';
import type { AppResult } from './result';
import { runAppsNow } from './run-now';

export interface RealtimeAnswer {
  call_id: string;
  policy: string | null;
  app_data: Record<string, AppResult>;
}

/**
 * Runs the call's policy's `real_time` apps now and stores their results with the call, so
 * the same call's post-call apps can template from them later. Callers check first that a
 * policy the event names exists.
 */
export async function runRealtime(
  config: CallhookConfig,
  event: CallEvent,
  deps: SendDeps & { observer?: PipelineObserver },
  store: CallStore,
): Promise<RealtimeAnswer> {
  const policy = resolvePolicy(config, event);
  if (!policy) return { call_id: event.call_id, policy: null, app_data: {} };
  const runs = await runAppsNow(policy, event, ['real_time'], deps);
  const app_data = Object.fromEntries(runs.map((run) => [run.app.slug, run.result]));
  if (runs.length > 0) await store.saveResults(event.call_id, event, app_data, policy.id);
  return { call_id: event.call_id, policy: policy.id, app_data };
}

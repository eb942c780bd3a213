import { callStatus, type AppResult, type CallEvent, type Checkpoint } from '../model/call';
import { resolvePolicy } from '../policies/resolve';
import type { CallhookConfig, Policy } from '../policies/types';
import { appsOf, REAL_TIME, runApps, type RunnerDeps } from './runner';

/** Where real-time results are kept, so the same call's post-call apps can template from them. */
export interface RealtimeStore<Claim extends { policy: string | undefined } = { policy: string | undefined }> {
  /** Creates the call record if there is none and answers its policy. Throws when Redis refuses the write. */
  claimRealtime(event: CallEvent): Promise<Claim>;
  /** The policy a stored call has, if any (a read: creates nothing). */
  storedPolicy(callId: string): Promise<string | undefined>;
  /**
   * `claim` is what claimRealtime answered for this call (what the store knows of the record);
   * `final` false when the call's post-call apps are queued next (its status waits for them).
   * Answers whether this save gave the call its final status (a call queued for post-call apps
   * keeps its own, which its worker gives it).
   */
  saveRealtimeResults(callId: string, policyId: string, results: Readonly<Record<string, AppResult>>, claim?: Claim, final?: boolean): Promise<boolean>;
}

export interface RealtimeAnswer {
  call_id: string;
  policy: string | null;
  app_data: Record<string, AppResult>;
  /** False when the apps ran but their results could not be stored (`warning` says why). */
  stored: boolean;
  warning?: string;
}

/**
 * Runs the call's policy's `real_time` apps now and stores their results with the call. Redis
 * is written before any app is sent, so a Redis that refuses writes fails the request with
 * nothing sent; if storing fails after the apps ran, the answer says so (`stored: false`)
 * rather than inviting a retry that would send them again. A call that already has a policy
 * (queued, running, or an earlier real-time run) keeps it. Callers check first that a policy
 * the event names exists.
 */
export async function runRealtime(
  config: CallhookConfig,
  event: CallEvent,
  deps: Omit<RunnerDeps, 'checkpoint'>,
  store: RealtimeStore,
  options: {
    postCallFollows?: boolean;
    /** The call id was made for this request (CURRI): no record can hold a policy for it yet. */
    newCall?: boolean;
    /** Called with the apps' results as soon as they ran, before they are stored (CURRI answers then). */
    onAppsDone?: (answer: RealtimeAnswer) => void;
  } = {},
): Promise<RealtimeAnswer> {
  let policy: Policy | undefined = resolvePolicy(config, event);
  if (!hasRealtimeApps(policy) && !options.newCall) {
    // A stored call keeps its policy, whose real-time apps may be what this event's policy lacks.
    const stored = await store.storedPolicy(event.call_id);
    if (stored) policy = config.byId.get(stored) ?? policy;
  }
  if (!policy || !hasRealtimeApps(policy)) return { call_id: event.call_id, policy: policy?.id ?? null, app_data: {}, stored: true };
  const claimed = await store.claimRealtime(event);
  policy = (claimed.policy && config.byId.get(claimed.policy)) || policy;

  const app_data: Record<string, AppResult> = {};
  const collect: Checkpoint = {
    saveResult: async (slug, result) => {
      app_data[slug] = result;
    },
    savePending: async () => undefined,
    finish: async (_status, last) => {
      if (last) app_data[last.slug] = last.result;
    },
  };
  await runApps(policy, { event, results: {}, pending: {} }, REAL_TIME, { ...deps, checkpoint: collect });
  const answer: RealtimeAnswer = { call_id: event.call_id, policy: policy.id, app_data, stored: true };
  options.onAppsDone?.(answer);
  try {
    // Counted where its final status is stored, as a worker counts the calls it finishes: not
    // when post-call apps follow (their worker counts the call) nor when the save failed.
    if (await store.saveRealtimeResults(event.call_id, policy.id, app_data, claimed, !options.postCallFollows)) {
      deps.observer?.callFinished(event.call_id, policy.id, callStatus(Object.values(app_data)));
    }
  } catch (error) {
    answer.stored = false;
    answer.warning = `the real-time apps ran, but their results could not be stored (${(error as Error).message.split('\n')[0]}); do not resend this request to retry them`;
  }
  return answer;
}

function hasRealtimeApps(policy: Policy | undefined): boolean {
  return policy !== undefined && appsOf(policy, REAL_TIME.phases).length > 0;
}

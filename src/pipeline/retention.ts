import { formatDuration } from '../util/duration';
import { longestSchedule } from '../webhook/retry-policy';
import type { CallhookConfig, Policy } from '../policies/types';

/**
 * The longest a queued call of this policy can take: every post-call app retried to the end and
 * held by an open circuit for its `max_wait` (rate-limit waits depend on the backlog, not on the policy).
 */
export function longestPolicySchedule(policy: Policy): number {
  return policy.apps.filter((app) => app.phase === 'post_call').reduce((total, app) => total + longestSchedule(app) + (app.circuit ? app.circuit.maxWaitMs : 0), 0);
}

/**
 * Call records expire `ttlMs` after their last write: a policy whose retries could run longer
 * than that would lose its record mid-call. One line per policy at risk.
 */
export function retentionProblems(config: CallhookConfig, ttlMs: number): string[] {
  return config.policies
    .map((policy) => ({ policy, longest: longestPolicySchedule(policy) }))
    .filter(({ longest }) => longest >= ttlMs)
    .map(
      ({ policy, longest }) =>
        `CALLHOOK_RESULT_TTL=${formatDuration(ttlMs)} is shorter than policy ${policy.id}'s longest retry schedule (${formatDuration(longest)}, every retry and circuit wait at its longest): its call records could expire mid-call. Raise CALLHOOK_RESULT_TTL or lower retry_count/retry_delay/circuit.max_wait`,
    );
}

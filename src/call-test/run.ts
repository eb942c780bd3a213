import { randomUUID } from 'node:crypto';
import { callIdProblems, parseEvent } from '../events/schema';
import type { AppResult, CallEvent, Checkpoint } from '../model/call';
import type { CallhookConfig, Phase, Policy } from '../policies/types';
import { DEFAULTS } from '../defaults';
import { combineObservers, noopObserver, type PipelineObserver } from '../pipeline/observer';
import { appsOf, REAL_TIME, runApps, type AppRun, type RunnerDeps } from '../pipeline/runner';
import { xacmlResponse } from '../curri/cixml';
import { renderDirective } from '../curri/directive';
import { callingNumberOf, leaveWithheldNumberAbsent } from '../curri/handler';
import { hintFor } from './hints';

export type CallTestPhase = Phase | 'all';

export interface CallTestAppReport {
  name: string;
  slug: string;
  phase: Phase;
  order: number;
  /** The request as sent, secrets redacted; null when the app did not send one. */
  request: { method: string; url: string; headers: Record<string, string>; body: unknown } | null;
  response: { http_status: number | null; duration_ms: number } | null;
  result: AppResult;
  unresolved: { path: string; hint: string }[];
}

export interface CallTestReport {
  call_id: string;
  policy: string;
  phase: CallTestPhase;
  event: CallEvent;
  ok: boolean;
  apps: CallTestAppReport[];
  /**
   * For a policy with a `curri:` block, run with its real-time apps: the exact XML CUCM would
   * receive, and `ok` or why it is the policy's error decision (`timeout`: the real-time apps
   * answered after the CURRI timeout, so /curri would have answered `on_error` without them).
   */
  curri: { xml: string; outcome: CallTestCurriOutcome; error: string | null } | null;
}

export type CallTestCurriOutcome = 'ok' | 'app_failed' | 'template_error' | 'timeout';

export interface CallTestOptions {
  /** CALLHOOK_CURRI_TIMEOUT: /curri answers `on_error` when the real-time apps take longer. @defaultValue DEFAULTS.curriTimeoutMs */
  curriTimeoutMs?: number | undefined;
}

export type CallTestInput =
  /** `withheld`: the call has no caller id (an empty calling number and no transformed one), as CUCM sends it to /curri. */
  | { ok: true; policy: Policy; event: CallEvent; phase: CallTestPhase; withheld?: boolean }
  | { ok: false; code: 'CALLHOOK_EVENT_INVALID' | 'CALLHOOK_POLICY_NOT_FOUND'; problems: string[] };

/**
 * Validates a Call Test request: `{policy, phase?, calling_number, called_number, ...event fields}`.
 * The call id is always Call Test's own: a real call's id would give the test's requests that
 * call's Idempotency-Key, and a receiver could then drop the real call's request as a repeat.
 */
export function parseCallTest(config: CallhookConfig, body: unknown): CallTestInput {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { ok: false, code: 'CALLHOOK_EVENT_INVALID', problems: ['(root): expected a JSON object'] };
  }
  const { phase = 'all', call_id: callId, ...fields } = body as Record<string, unknown>;
  // Checked as POST /v1/calls checks it (a Call Test is often of the event about to be sent), then replaced.
  const problems = callId === undefined ? [] : callIdProblems(callId);
  if (!['all', 'post_call', 'real_time'].includes(phase as string)) problems.push('phase: use all, post_call or real_time');
  // Optional in an event, required here; a policy of the wrong type or empty is the event check's to name.
  if (fields.policy === undefined) problems.push('policy: is required');
  // An empty calling number is a call without caller id, as CUCM sends it to /curri: the event
  // gets what /curri gives it (the transformed number, or the placeholder), so the XML is /curri's.
  const transformed = typeof fields.transformed_calling_number === 'string' ? fields.transformed_calling_number : undefined;
  const withheld = fields.calling_number === '' && !transformed;
  if (fields.calling_number === '') fields.calling_number = callingNumberOf('', transformed);
  const check = parseEvent({ ...fields, call_id: `call-test-${randomUUID()}` });
  if (!check.ok) problems.push(...check.problems);
  if (problems.length > 0 || !check.ok) return { ok: false, code: 'CALLHOOK_EVENT_INVALID', problems };
  const policy = config.byId.get(fields.policy as string);
  if (!policy) {
    const known = config.policies.map((p) => p.id).join(', ') || 'none';
    return { ok: false, code: 'CALLHOOK_POLICY_NOT_FOUND', problems: [`policy: no policy "${String(fields.policy)}" (policies: ${known})`] };
  }
  return { ok: true, policy, event: check.event, phase: phase as CallTestPhase, ...(withheld ? { withheld } : {}) };
}

/** Call Test stores nothing. */
const NOWHERE: Checkpoint = { saveResult: async () => undefined, savePending: async () => undefined, finish: async () => undefined };

/**
 * Runs a policy now, as Call Test: every app's request (secrets redacted by the runner),
 * response, result, and each unresolved template variable with a hint why. Nothing is stored
 * or queued.
 */
export async function runCallTest(input: Extract<CallTestInput, { ok: true }>, deps: Omit<RunnerDeps, 'checkpoint'>, options: CallTestOptions = {}): Promise<CallTestReport> {
  const phases: Phase[] = input.phase === 'all' ? ['real_time', 'post_call'] : [input.phase];
  // When the last real-time app had its result: /curri answers on_error past its deadline. The
  // apps themselves are not cut short (the report shows what they answered, and when).
  const startedAt = Date.now();
  let realtimeDoneAt = startedAt;
  const lastRealtime = appsOf(input.policy, REAL_TIME.phases).at(-1)?.slug;
  const timing: PipelineObserver = {
    ...noopObserver,
    result: (context) => {
      if (context.app === lastRealtime) realtimeDoneAt = Date.now();
    },
  };
  const observer = deps.observer ? combineObservers(deps.observer, timing) : timing;
  const outcome = await runApps(input.policy, { event: input.event, results: {}, pending: {} }, { phases, retries: 'request' }, { ...deps, observer, checkpoint: NOWHERE });
  const runs = outcome.kind === 'finished' ? outcome.runs : [];
  const apps = runs.map((run, index) => describeRun(run, runs.slice(0, index), input));
  const curriTimeoutMs = options.curriTimeoutMs ?? DEFAULTS.curriTimeoutMs;
  return {
    call_id: input.event.call_id,
    policy: input.policy.id,
    phase: input.phase,
    event: input.event,
    ok: apps.every((a) => a.result.status !== 'failed'),
    apps,
    curri: input.policy.curri && phases.includes('real_time') ? curriAnswer(input, runs.filter((run) => run.app.phase === 'real_time'), realtimeDoneAt - startedAt, curriTimeoutMs) : null,
  };
}

/** What CUCM would receive, as /curri answers it: the rendered block, or the error decision. */
function curriAnswer(input: Extract<CallTestInput, { ok: true }>, realtime: AppRun[], tookMs: number, timeoutMs: number): NonNullable<CallTestReport['curri']> {
  const block = input.policy.curri;
  const onError = (outcome: Exclude<CallTestCurriOutcome, 'ok'>, error: string) => ({ xml: xacmlResponse({ action: block?.onError ?? 'continue' }), outcome, error });
  // /curri stops waiting at its deadline, whatever the apps would have answered.
  if (tookMs > timeoutMs) return onError('timeout', `the real-time apps took ${tookMs} ms; past CALLHOOK_CURRI_TIMEOUT (${timeoutMs} ms) /curri answers on_error without them`);
  const failed = realtime.filter((run) => run.result.status === 'failed');
  if (failed.length > 0) return onError('app_failed', failed.map((run) => `${run.app.slug}: ${run.result.error?.message ?? 'failed'}`).join('; '));
  const appData = Object.fromEntries(realtime.map((run) => [run.app.slug, run.result]));
  try {
    const directive = renderDirective(block, { event: input.event, app_data: { ...input.event.app_data, ...appData } });
    leaveWithheldNumberAbsent(directive, input.withheld === true);
    return { xml: xacmlResponse(directive), outcome: 'ok', error: null };
  } catch (error) {
    return onError('template_error', (error as Error).message);
  }
}

function describeRun(run: AppRun, before: AppRun[], input: Extract<CallTestInput, { ok: true }>): CallTestAppReport {
  const { app, result, request } = run;
  return {
    name: app.name,
    slug: app.slug,
    phase: app.phase,
    order: app.order,
    request: request ?? null,
    response: request ? { http_status: result.http_status, duration_ms: result.duration_ms } : null,
    result,
    unresolved: result.unresolved.map((path) => ({ path, hint: hintFor(path, { app, policy: input.policy, event: input.event, before, phase: input.phase }) })),
  };
}

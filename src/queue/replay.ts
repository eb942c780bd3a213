import type { Queue } from 'bullmq';
import type { CallhookConfig, Policy } from '../policies/types';
import { resolvePolicy } from '../policies/resolve';
import type { CallRecord, CallStatus } from '../model/call';
import type { CallStore } from '../store/call-store';
import { jobIdFor, jobKeyFor, QUEUE_NAME, type CallJobData } from './calls-queue';

export type ReplayOutcome =
  | { ok: true; call_id: string; status: 'queued'; replayed: string[] }
  /**
   * `unknownPolicy`: the call's policy is not in the loaded policies file (which file is the
   * caller's to say). `realtimeOnly`: the call ran real-time apps only, so has no run to replay.
   * `nothingToRun`: what failed is no app replay runs (a real-time app, or an app no longer in the
   * call's policy) and every post-call app of its policy succeeded. `gone`: there is no such call
   * (never queued, or its record expired or was deleted).
   */
  | { ok: false; call_id: string; status: 404 | 409; message: string; unknownPolicy?: true; realtimeOnly?: true; nothingToRun?: true; gone?: true };

/** The final statuses a call can be replayed from (README, *Replaying failed calls*). */
const REPLAYABLE: readonly CallStatus[] = ['failed', 'partial', 'unmatched'];

/** A call queued or running this long with no job to run it is stuck: replay gives it one. */
const JOBLESS_AFTER_MS = 60_000;

/**
 * Re-runs a finished call's failed apps and the ones after them that did not succeed, keeping
 * every successful result (those apps are not sent again). An unmatched call is resolved anew,
 * so a policy added since then applies. The check that the call is final and the switch to
 * `queued` are one script: of several concurrent replays of a call, exactly one is queued.
 */
export class Replayer {
  constructor(
    private readonly queue: Queue<CallJobData>,
    private readonly store: CallStore,
    private readonly config: CallhookConfig,
    private readonly prefix: string,
  ) {}

  async replay(callId: string): Promise<ReplayOutcome> {
    const record = await this.store.get(callId);
    if (!record) return { ok: false, call_id: callId, status: 404, message: `no call ${callId}`, gone: true };
    const busy = (status: string) => ({ ok: false, call_id: callId, status: 409, message: `call ${callId} is ${status}; replay it once it has finished` }) as const;
    const jobId = jobIdFor(callId);
    if (record.status === 'queued' || record.status === 'running') {
      // Stuck only when nothing will run or record it: queued over a minute ago (a job is added
      // within milliseconds) with no job, or with a job BullMQ gave up on over a minute ago (the
      // worker's 'failed' handler records such a call at once). A call never queued is running
      // real-time apps, or their results could not be stored.
      const job = await this.queue.getJob(jobId);
      if (job && (!(await job.isFailed()) || Date.now() - (job.finishedOn ?? 0) < JOBLESS_AFTER_MS)) return busy(record.status);
      if (!(await this.store.wasQueued(callId)) || (await this.store.sinceQueuedMs(callId)) < JOBLESS_AFTER_MS) return busy(record.status);
      await job?.remove();
      return this.requeue(callId, record);
    }
    // A completed call had nothing fail: an app its `when` skipped then was meant to be skipped,
    // and running it again would queue the call and add a second final status to the feed.
    if (!REPLAYABLE.includes(record.status)) {
      return { ok: false, call_id: callId, status: 409, message: `call ${callId} is ${record.status}; only failed, partial or unmatched calls can be replayed` };
    }
    // The policy it ran, else the one its event names (a call failed before it ran one: a worker
    // without that policy in its file gave it up). A call with neither is resolved anew, as its
    // run will be: an unmatched call (a policy added since applies), or one BullMQ gave up on
    // before its first result stored its policy (a worker died on it mid-request, again and again).
    const { named, policy } = this.policyOf(record);
    if (named && !policy) {
      // Not "nothing to replay": the apps that failed are unknown here (another policies file?).
      return { ok: false, call_id: callId, status: 409, message: `call ${callId} ran policy ${JSON.stringify(named)}, which the loaded policies do not have`, unknownPolicy: true };
    }
    // Replay re-runs a post-call run. A call that ran real-time apps only (CURRI with post_call:
    // false, /v1/realtime alone) never had one: replaying would send post-call apps no one asked
    // for, and its real-time apps belonged to a call setup that is over.
    if (record.status !== 'unmatched' && !(await this.store.wasQueued(callId))) {
      const message = `call ${callId} ran real-time apps only, during its call setup; there is no post-call run to replay (queue the call with POST /v1/calls to run its post-call apps)`;
      return { ok: false, call_id: callId, status: 409, message, realtimeOnly: true };
    }
    const postCall = policy?.apps.filter((a) => a.phase === 'post_call') ?? [];
    const replayed = postCall.filter((a) => record.app_data[a.slug]?.status !== 'success').map((a) => a.slug);
    if (policy && named && replayed.length === 0) return nothingToRun(callId, record, policy);

    const reset = await this.store.resetForReplay(callId, {
      slugs: replayed,
      keepPolicy: record.status !== 'unmatched',
      finishedAt: record.finished_at,
      jobKey: jobKeyFor(this.prefix, jobId),
    });
    if (reset === 'in-queue') return { ok: false, call_id: callId, status: 409, message: `call ${callId} is still in the queue; replay it once it has finished` };
    if (reset === 'changed') return { ok: false, call_id: callId, status: 409, message: `call ${callId} changed while replaying (another replay?); read it again` };
    if (reset !== 'ok') return busy(reset.slice('not-final:'.length));
    // The old job, if BullMQ kept it (a call it gave up on), makes way for the new one.
    await (await this.queue.getJob(jobId))?.remove();
    await this.queue.add(QUEUE_NAME, { call_id: callId }, { jobId });
    return { ok: true, call_id: callId, status: 'queued', replayed };
  }

  /**
   * Gives a stuck call (see replay) a job again; its run resumes from the record, successes kept.
   * A job someone added meanwhile wins (BullMQ keeps the first of an id), and a call that finished
   * meanwhile has its job completed with nothing run (START_RUN).
   */
  private async requeue(callId: string, record: CallRecord): Promise<ReplayOutcome> {
    await this.queue.add(QUEUE_NAME, { call_id: callId }, { jobId: jobIdFor(callId) });
    // What its run will send: a call stuck before its first result has no policy on record, and
    // its run resolves one, as here.
    const { policy } = this.policyOf(record);
    const replayed = (policy?.apps ?? []).filter((a) => a.phase === 'post_call' && record.app_data[a.slug]?.status !== 'success').map((a) => a.slug);
    return { ok: true, call_id: callId, status: 'queued', replayed };
  }

  /**
   * The policy a run of the call uses, as the worker chooses it: the one it ran, else the one its
   * event names (`named`; a call given up before it ran one), else the one it resolves to now.
   */
  private policyOf(record: CallRecord): { named: string | undefined; policy: Policy | undefined } {
    const named = record.policy || record.event.policy;
    return { named, policy: named ? this.config.byId.get(named) : resolvePolicy(this.config, record.event) };
  }
}

/**
 * The refusal of a failed or partial call none of whose policy's post-call apps is left to run,
 * saying what did fail: a real-time app (replay re-runs the post-call run, not a call setup that
 * is over), or an app no longer in the policy.
 */
function nothingToRun(callId: string, record: CallRecord, policy: Policy): ReplayOutcome {
  const unsuccessful = Object.entries(record.app_data).filter(([, result]) => result.status !== 'success');
  const named = (results: typeof unsuccessful) => results.map(([slug, result]) => `${slug} (${result.status})`).join(', ');
  const realtime = unsuccessful.filter(([slug]) => policy.apps.some((app) => app.slug === slug && app.phase === 'real_time'));
  const removed = unsuccessful.filter(([slug]) => !policy.apps.some((app) => app.slug === slug));
  const reasons: string[] = [];
  if (realtime.length > 0) reasons.push(`${named(realtime)} ${realtime.length === 1 ? 'is a real-time app' : 'are real-time apps'} (replay re-runs post-call apps only)`);
  if (removed.length > 0) reasons.push(`${named(removed)} ${removed.length === 1 ? 'is' : 'are'} no longer in the policy`);
  if (reasons.length === 0) return { ok: false, call_id: callId, status: 409, message: `call ${callId} has no failed or skipped app to replay` };
  const message = `call ${callId} is ${record.status}, but replay has nothing to run: every post-call app of policy ${JSON.stringify(policy.id)} succeeded, and ${reasons.join(', and ')}`;
  return { ok: false, call_id: callId, status: 409, message, nothingToRun: true };
}

import { DelayedError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { DEFAULTS } from '../defaults';
import type { CallhookConfig } from '../policies/types';
import { resolvePolicy } from '../policies/resolve';
import { logObserver } from '../pipeline/log-observer';
import { combineObservers, noopObserver, type PipelineObserver } from '../pipeline/observer';
import { QUEUED, runApps } from '../pipeline/runner';
import type { CallStore } from '../store/call-store';
import type { Redactor } from '../util/redact';
import type { Sender } from '../webhook/send';
import { lockKeyFor, QUEUE_NAME, type CallJobData } from './calls-queue';

export interface CallWorkerOptions {
  connection: ConnectionOptions;
  prefix: string;
  config: CallhookConfig;
  store: CallStore;
  sender: Sender;
  redactor: Redactor;
  logger: Logger;
  /** Metrics (or any other observer) for every app and call. */
  observer?: PipelineObserver | undefined;
  /** Calls in flight in this process. @defaultValue 50 */
  concurrency?: number;
  /** BullMQ job lock; a crashed worker's calls are redelivered after it expires. @defaultValue 10000 */
  lockDurationMs?: number;
}

/** The lock timings that follow from a lock duration (see DEFAULTS): renewal and stalled check. */
export function lockTimings(lockDurationMs: number): { lockRenewTime: number; stalledInterval: number } {
  return {
    lockRenewTime: Math.round(lockDurationMs * (DEFAULTS.lockRenewMs / DEFAULTS.lockDurationMs)),
    stalledInterval: Math.round(lockDurationMs * (DEFAULTS.stalledIntervalMs / DEFAULTS.lockDurationMs)),
  };
}

/**
 * Processes one call job: resolve its policy, run (or resume) its post-call apps, record the
 * outcome. Every write is fenced by the job's lock token. A retry moves the job to BullMQ's
 * delayed set (DelayedError): no attempt is spent and no failure recorded.
 */
export function processCall(options: Pick<CallWorkerOptions, 'config' | 'store' | 'sender' | 'redactor' | 'logger' | 'observer' | 'prefix'>) {
  const { config, store, logger } = options;
  const observer = combineObservers(options.observer ?? noopObserver, logObserver(logger));
  return async (job: Job<CallJobData>, token?: string): Promise<string> => {
    const callId = job.data.call_id;
    const state = await store.startRun(callId);
    if (!state) {
      logger.child({ call_id: callId }).warn('call record not found (expired?); nothing to do');
      return 'missing';
    }
    const fence = token ? { lockKey: lockKeyFor(options.prefix, job.id ?? ''), token } : undefined;
    const policy = state.policy ? config.byId.get(state.policy) : resolvePolicy(config, state.event);
    if (!policy) {
      await store.checkpoint(callId, null, fence).finish('unmatched');
      observer.callFinished(callId, null, 'unmatched');
      return 'unmatched';
    }
    const checkpoint = store.checkpoint(callId, policy.id, fence);
    const outcome = await runApps(policy, state, QUEUED, { sender: options.sender, redactor: options.redactor, checkpoint, observer });
    if (outcome.kind === 'retry') {
      logger
        .child({ call_id: callId, policy: policy.id, app: outcome.slug })
        .info({ attempt: outcome.attempt, delay_ms: outcome.delayMs }, 'app will be retried');
      await job.moveToDelayed(Date.now() + outcome.delayMs, token);
      throw new DelayedError();
    }
    observer.callFinished(callId, policy.id, outcome.status);
    return outcome.status;
  };
}

export function createCallWorker(options: CallWorkerOptions): Worker<CallJobData, string> {
  const lockDurationMs = options.lockDurationMs ?? DEFAULTS.lockDurationMs;
  const worker = new Worker<CallJobData, string>(QUEUE_NAME, processCall(options), {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.concurrency ?? DEFAULTS.concurrency,
    lockDuration: lockDurationMs,
    ...lockTimings(lockDurationMs),
    maxStalledCount: 10,
  });
  // A job BullMQ gives up on (attempts exhausted, stalled too often) must not leave its call
  // looking `running` forever: record it as failed, so it shows up for `replay --failed`.
  worker.on('failed', (job, error) => {
    if (!job) return;
    const log = options.logger.child({ call_id: job.data.call_id });
    log.warn({ err: error.message, attempts: job.attemptsMade }, 'call run failed unexpectedly');
    void job
      .getState()
      .then(async (state) => {
        if (state !== 'failed') return;
        await options.store.checkpoint(job.data.call_id, null).finish('failed');
        log.error({ err: error.message }, 'call given up by the queue; recorded as failed');
      })
      .catch(() => undefined);
  });
  return worker;
}

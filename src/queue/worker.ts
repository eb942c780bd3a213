import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { CallhookConfig } from '../policies/types';
import { resolvePolicy } from '../policies/resolve';
import { logObserver } from '../pipeline/log-observer';
import { combineObservers, noopObserver, type PipelineObserver } from '../pipeline/observer';
import { runPostCall } from '../pipeline/post-call';
import type { CallStore } from '../store/call-store';
import type { SendDeps } from '../webhook/send';
import { BACKOFF_TYPE, QUEUE_NAME, type CallJobData } from './calls-queue';

/** Thrown to hand a call back to BullMQ for a delayed retry of one app. */
export class RetryLater extends Error {
  override name = 'RetryLater';
  constructor(
    readonly slug: string,
    readonly attempt: number,
    readonly delayMs: number,
  ) {
    super(`app ${slug} attempt ${attempt} failed; retrying in ${delayMs} ms`);
  }
}

/** Delay for calls that failed for a reason other than an app (Redis hiccup...). */
const UNEXPECTED_ERROR_DELAY_MS = 5_000;

export interface CallWorkerOptions {
  connection: ConnectionOptions;
  prefix: string;
  config: CallhookConfig;
  store: CallStore;
  send: SendDeps;
  logger: Logger;
  /** Metrics (or any other observer) for every app and call. */
  observer?: PipelineObserver;
  /** Calls in flight in this process. @defaultValue 50 */
  concurrency?: number;
  /** BullMQ job lock; a crashed worker's calls are redelivered after it expires. @defaultValue 30000 */
  lockDurationMs?: number;
  /** How often stalled (crashed-worker) jobs are looked for. @defaultValue 30000 */
  stalledIntervalMs?: number;
}

/** Processes one call job: resolve its policy, run (or resume) its post-call apps, record the outcome. */
export function processCall(options: Pick<CallWorkerOptions, 'config' | 'store' | 'send' | 'logger' | 'observer'>) {
  const { config, store, send, logger } = options;
  const observer = combineObservers(options.observer ?? noopObserver, logObserver(logger));
  const deps = { ...send, checkpoint: store, observer };
  return async (job: Job<CallJobData>): Promise<string> => {
    const callId = job.data.call_id;
    const state = await store.startRun(callId);
    if (!state) {
      logger.child({ call_id: callId }).warn('call record not found (expired?); nothing to do');
      return 'missing';
    }
    const policy = state.policy ? config.byId.get(state.policy) : resolvePolicy(config, state.event);
    if (!policy) {
      await store.finish(callId, null, 'unmatched');
      observer.callFinished(callId, null, 'unmatched');
      return 'unmatched';
    }
    const outcome = await runPostCall(policy, state, deps);
    if (outcome.kind === 'retry') {
      logger
        .child({ call_id: callId, policy: policy.id, app: outcome.slug })
        .info({ attempt: outcome.attempt, delay_ms: outcome.delayMs }, 'app will be retried');
      throw new RetryLater(outcome.slug, outcome.attempt, outcome.delayMs);
    }
    observer.callFinished(callId, policy.id, outcome.status);
    return outcome.status;
  };
}

export function createCallWorker(options: CallWorkerOptions): Worker<CallJobData, string> {
  const worker = new Worker<CallJobData, string>(QUEUE_NAME, processCall(options), {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.concurrency ?? 50,
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    maxStalledCount: 10,
    settings: {
      backoffStrategy: (_attempts, type, error) =>
        type === BACKOFF_TYPE && error instanceof RetryLater ? error.delayMs : UNEXPECTED_ERROR_DELAY_MS,
    },
  });
  // A job BullMQ gives up on (attempts exhausted, stalled too often) must not leave its call
  // looking `running` forever: record it as failed, so it shows up for `replay --failed`.
  worker.on('failed', (job, error) => {
    if (!job || error instanceof RetryLater) return;
    const log = options.logger.child({ call_id: job.data.call_id });
    log.warn({ err: error.message, attempts: job.attemptsMade }, 'call run failed unexpectedly');
    void job
      .getState()
      .then(async (state) => {
        if (state !== 'failed') return;
        await options.store.finish(job.data.call_id, null, 'failed');
        log.error({ err: error.message }, 'call given up by the queue; recorded as failed');
      })
      .catch(() => undefined);
  });
  return worker;
}

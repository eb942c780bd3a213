import { hostname } from 'node:os';
import { DelayedError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { DEFAULTS } from '../defaults';
import type { CallhookConfig } from '../policies/types';
import { resolvePolicy } from '../policies/resolve';
import { logObserver } from '../pipeline/log-observer';
import { combineObservers, noopObserver, type PipelineObserver } from '../pipeline/observer';
import type { DeliveryGate } from '../pipeline/gate';
import { QUEUED, runApps } from '../pipeline/runner';
import { CallGoneError, type CallStore } from '../store/call-store';
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
  /** Rate limits and circuit breakers shared by every worker. */
  gate?: DeliveryGate | undefined;
  /** A call BullMQ gave up on (its attempts spent, or stalled too often): counted for the alerts. */
  onGivenUp?: ((callId: string) => void) | undefined;
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
 * outcome. Every write is fenced by the job's lock token. A retry, or a wait for a rate limit or
 * an open circuit, moves the job to BullMQ's delayed set (DelayedError): no BullMQ attempt is
 * spent, no worker slot held and no failure recorded (a wait spends none of the app's either).
 */
export function processCall(options: Pick<CallWorkerOptions, 'config' | 'store' | 'sender' | 'redactor' | 'logger' | 'observer' | 'prefix' | 'gate'>) {
  const { config, store, logger } = options;
  const observer = combineObservers(options.observer ?? noopObserver, logObserver(logger));
  return async (job: Job<CallJobData>, token?: string): Promise<string> => {
    try {
      return await run(job, token);
    } catch (error) {
      if (!(error instanceof CallGoneError)) throw error;
      logger.child({ call_id: job.data.call_id }).warn(error.message);
      return 'missing';
    }
  };

  async function run(job: Job<CallJobData>, token: string | undefined): Promise<string> {
    const callId = job.data.call_id;
    const { fresh } = job.data;
    // BullMQ counts every start: a later one (retry, wait, crash) resumes from the record.
    const state = fresh && job.attemptsStarted === 1 ? store.freshRun(fresh.event, fresh.queued_at) : await store.startRun(callId);
    if (!state) {
      logger.child({ call_id: callId }).warn('call record not found (expired?); nothing to do');
      return 'missing';
    }
    if ('finished' in state && state.finished) {
      logger.child({ call_id: callId }).info({ status: state.finished }, 'call already finished by a worker that stopped before its job was completed; completing the job');
      return state.finished;
    }
    const fence = token ? { lockKey: lockKeyFor(options.prefix, job.id ?? ''), token } : undefined;
    const named = state.policy || state.event.policy;
    const policy = named ? config.byId.get(named) : resolvePolicy(config, state.event);
    if (!policy) {
      // A policy renamed or removed while the call waited, or a worker on an older policies file:
      // not "no policy matched". The job fails and BullMQ tries it again (20 times, 5 s apart), so
      // a worker that has the policy runs it; then the call is recorded failed, for replay.
      if (named) throw new Error(`policy ${JSON.stringify(named)} is not in this worker's policies (renamed or removed while the call waited?)`);
      await store.checkpoint(callId, null, fence, state.snapshot).finish('unmatched');
      observer.callFinished(callId, null, 'unmatched');
      return 'unmatched';
    }
    const checkpoint = store.checkpoint(callId, policy.id, fence, state.snapshot);
    const { waiting } = job.data;
    const outcome = await runApps(policy, state, QUEUED, { sender: options.sender, redactor: options.redactor, checkpoint, observer, gate: options.gate, waiting });
    if (outcome.kind === 'retry' || outcome.kind === 'wait') {
      const log = logger.child({ call_id: callId, policy: policy.id, app: outcome.slug });
      if (outcome.kind === 'retry') {
        const { http_status, error } = outcome.last;
        log.info({ attempt: outcome.attempt, delay_ms: outcome.delayMs, http_status, error: error?.code ?? null, reason: error?.message ?? null }, 'app will be retried');
      }
      else if (log.isLevelEnabled('debug')) log.debug({ reason: outcome.reason, delay_ms: outcome.delayMs }, `app waits: ${outcome.message}`);
      if (outcome.kind === 'wait') observer.waited?.({ callId, policy: policy.id, app: outcome.slug }, outcome.reason);
      // An app's wait for its circuit is bounded (circuit.max_wait) from the first wait until the
      // app has a result: its retries and rate-limit waits keep when it began.
      const since = waiting?.slug === outcome.slug ? waiting : outcome.kind === 'wait' && outcome.sinceMs !== undefined ? { slug: outcome.slug, sinceMs: outcome.sinceMs } : undefined;
      if (since !== waiting) await job.updateData({ ...job.data, waiting: since });
      await job.moveToDelayed(Date.now() + outcome.delayMs, token);
      throw new DelayedError();
    }
    observer.callFinished(callId, policy.id, outcome.status);
    return outcome.status;
  }
}

/** A BullMQ worker of calls that can say when those it runs are done (see closeCallWorker). */
export type CallWorker = Worker<CallJobData, string> & {
  /** Resolves once no call is in flight (at once when none is). */
  callsDone(): Promise<void>;
};

export function createCallWorker(options: CallWorkerOptions): CallWorker {
  const lockDurationMs = options.lockDurationMs ?? DEFAULTS.lockDurationMs;
  const run = processCall(options);
  let inFlight = 0;
  const whenDone: (() => void)[] = [];
  const counted = async (job: Job<CallJobData>, token?: string): Promise<string> => {
    inFlight++;
    try {
      return await run(job, token);
    } finally {
      if (--inFlight === 0) for (const done of whenDone.splice(0)) done();
    }
  };
  const worker = new Worker<CallJobData, string>(QUEUE_NAME, counted, {
    // Shown by GET /v1/stats and the console's Queue screen, so an operator can tell the workers apart.
    name: `${hostname()}:${process.pid}`,
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.concurrency ?? DEFAULTS.concurrency,
    lockDuration: lockDurationMs,
    ...lockTimings(lockDurationMs),
    maxStalledCount: 10,
  });
  // A job BullMQ gives up on (attempts exhausted, stalled too often) must not leave its call
  // looking `running` forever: record it failed (partial when some app succeeded), so it shows
  // up for `replay --failed`, and count it with the calls that finished.
  worker.on('failed', (job, error) => {
    if (!job) return;
    const log = options.logger.child({ call_id: job.data.call_id });
    log.warn({ err: error.message, attempts: job.attemptsMade }, 'call run failed unexpectedly');
    void job
      .getState()
      .then(async (state) => {
        if (state !== 'failed') return;
        // Counted before the record is written: a give-up whose record Redis refused is one too.
        options.onGivenUp?.(job.data.call_id);
        const status = (await options.store.anySucceeded(job.data.call_id)) ? 'partial' : 'failed';
        await options.store.checkpoint(job.data.call_id, null).finish(status);
        options.observer?.callFinished(job.data.call_id, null, status);
        log.error({ err: error.message }, `call given up by the queue; recorded as ${status}`);
      })
      .catch(() => undefined);
  });
  return Object.assign(worker, {
    callsDone: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => whenDone.push(resolve))),
  });
}

/**
 * Stops taking calls and lets those in flight finish, then closes. With Redis unreachable,
 * BullMQ's graceful close never ends, even once Redis is back: it disconnects its blocking
 * connection and waits for an end that a connection waiting to reconnect never reaches. So then
 * the worker stops fetching, waits for its own calls in flight (none: it closes at once), and
 * closes without BullMQ's wait. A call in flight keeps its result: it is checkpointed if Redis
 * comes back in time; if not, the process exits at the shutdown timeout and the call's lock
 * lapses, so another worker takes it over (apps that succeeded are not sent again).
 */
export async function closeCallWorker(worker: CallWorker, redisDown: () => boolean): Promise<void> {
  if (!redisDown()) return worker.close();
  await worker.pause(true);
  await worker.callsDone();
  await worker.close(true);
}

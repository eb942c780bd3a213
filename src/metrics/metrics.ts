import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { WaitReason } from '../pipeline/gate';
import type { AppContext, AttemptVerdict, PipelineObserver } from '../pipeline/observer';
import type { AppResult, CallStatus } from '../model/call';
import type { CallhookConfig, Phase } from '../policies/types';
import { DEFAULTS } from '../defaults';


/** Where queue depth comes from at scrape time (BullMQ's Queue.getJobCounts). */
export interface QueueDepthSource {
  getJobCounts(...states: string[]): Promise<Record<string, number>>;
}

/** What the gauges read from Redis at scrape time, beside the queue depth. */
export interface ScrapeSources {
  /** Worker connections BullMQ sees on the named queue; undefined when Redis will not say (CLIENT LIST refused). */
  workers?: { queue: string; count: () => Promise<number | undefined> };
  /** Resolves when Redis answers and takes a write (the readiness probe of `/readyz`). */
  ready?: () => Promise<unknown>;
}

/** What the histograms are laid out around. */
export interface MetricsOptions {
  /** CALLHOOK_CURRI_TIMEOUT: the CURRI answer time's buckets are placed around it. @defaultValue DEFAULTS.curriTimeoutMs */
  curriTimeoutMs?: number;
}

/** Answers well before the deadline: a lookup that answered, or no app at all. */
const CURRI_FAST_BUCKETS = [0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25];
/** Around the deadline, as fractions of it: an answer on time falls in `le` = the timeout, a late one above it. */
const CURRI_DEADLINE_FRACTIONS = [0.5, 0.75, 0.9, 0.95, 1, 1.05, 1.1, 1.25, 1.5, 2];

/**
 * The CURRI answer time's buckets for a timeout: fixed ones for fast answers, then fractions and
 * multiples of the timeout, one of them the timeout itself, so that "answered near or past the
 * deadline" can be read (1.51 s and 2.4 s fall in different buckets at 1.5 s).
 */
export function curriBuckets(timeoutMs: number): number[] {
  const timeout = timeoutMs / 1000;
  const near = CURRI_DEADLINE_FRACTIONS.map((f) => Number((f * timeout).toPrecision(6)));
  return [...CURRI_FAST_BUCKETS.filter((b) => b < near[0]!), ...near];
}

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/**
 * The `destination` label of the circuits of an app whose host comes from call data
 * (allow_templated_host): hosts from call data would add series without end.
 */
const templatedHostLabel = (policy: string, app: string) => `app:${policy}.${app}`;

/**
 * How long a scrape waits for Redis. Past it the Redis-backed gauges are left out (and
 * `callhook_redis_ready` is 0), so `/metrics` still answers while Redis is down: a scrape that
 * hung on Redis would turn into `up == 0` and hide which of the two is down.
 */
export const SCRAPE_REDIS_TIMEOUT_MS = 2000;

/**
 * prom-client's default metrics that are gauges named like counters (`_total`), which
 * `promtool check metrics` rejects. Each repeats the sum of its labelled twin
 * (`callhook_nodejs_active_handles{type}`...), so nothing is lost by leaving them out.
 */
const COUNTER_NAMED_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * Prometheus metrics of one callhook process, on a registry of its own (so several instances
 * can live in one test process). Scrape every process: counters are per process.
 */
export class Metrics implements PipelineObserver {
  readonly registry = new Registry();
  private readonly callsReceived = new Counter({ name: 'callhook_calls_received_total', help: 'Calls offered to the queue, by outcome (queued or duplicate)', labelNames: ['status'], registers: [this.registry] });
  private readonly callsFinished = new Counter({ name: 'callhook_calls_finished_total', help: 'Calls that reached a final status (completed, partial, failed, unmatched)', labelNames: ['status'], registers: [this.registry] });
  // A counter, not the queue's failed jobs: BullMQ trims those as others fail and replay removes
  // them, so their number can stand still while calls are given up. No labels: it is at 0 from the start.
  private readonly callsGivenUp = new Counter({ name: 'callhook_calls_given_up_total', help: 'Calls BullMQ gave up on (attempts exhausted, or stalled too often), recorded failed or partial by this worker', registers: [this.registry] });
  private readonly appAttempts = new Counter({ name: 'callhook_app_attempts_total', help: 'HTTP requests webhook apps sent, by phase (post_call: queued; real_time: in an API request) and outcome (success, retry, failed); a template, request size or OAuth2 token failure sends none', labelNames: ['policy', 'app', 'phase', 'outcome'], registers: [this.registry] });
  private readonly appResults = new Counter({ name: 'callhook_app_results_total', help: 'Final webhook app results, by status (success, failed, skipped)', labelNames: ['policy', 'app', 'status'], registers: [this.registry] });
  private readonly httpDuration = new Histogram({
    name: 'callhook_app_http_duration_seconds',
    help: 'Duration of each HTTP request of a webhook app (retry waits not included)',
    labelNames: ['policy', 'app'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly curriResponses = new Counter({
    name: 'callhook_curri_responses_total',
    help: 'CURRI answers to CUCM, by decision (Permit, Deny) and outcome (ok, or why the error decision was given; client_gone: CUCM closed the connection before its answer was written)',
    labelNames: ['decision', 'outcome'],
    registers: [this.registry],
  });
  private readonly curriDuration: Histogram;
  private readonly appWaits = new Counter({
    name: 'callhook_app_waits_total',
    help: 'Queued calls held back before an app, by reason (rate_limit, circuit_open); no attempt is spent',
    labelNames: ['policy', 'app', 'reason'],
    registers: [this.registry],
  });
  private readonly circuitChanges = new Counter({
    name: 'callhook_circuit_changes_total',
    help: 'Circuit breaker state changes per destination (open, closed), as seen by this process; app:<policy>.<slug> for an app whose host comes from call data',
    labelNames: ['destination', 'state'],
    registers: [this.registry],
  });
  private readonly redisEvicting = new Gauge({
    name: 'callhook_redis_evicting',
    help: "Whether Redis's maxmemory-policy evicts keys (1), silently dropping call records and queued calls, or not (0), as this process last read it (once a minute)",
    registers: [this.registry],
  });
  private readonly redisEvictedKeys = new Counter({
    name: 'callhook_redis_evicted_keys_total',
    help: 'Keys Redis evicted (INFO evicted_keys) while this process watched: call records or queued calls may be lost',
    registers: [this.registry],
  });
  private readonly oauthFetches = new Counter({ name: 'callhook_oauth_token_fetches_total', help: 'OAuth2 token requests, by outcome (success, failure)', labelNames: ['outcome'], registers: [this.registry] });

  constructor(queue?: QueueDepthSource, sources: ScrapeSources = {}, options: MetricsOptions = {}) {
    this.curriDuration = new Histogram({
      name: 'callhook_curri_duration_seconds',
      help: 'Time to answer a CURRI request, real-time apps included; buckets around CALLHOOK_CURRI_TIMEOUT (le equal to it: answered on time)',
      buckets: curriBuckets(options.curriTimeoutMs ?? DEFAULTS.curriTimeoutMs),
      registers: [this.registry],
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'callhook_' });
    for (const name of COUNTER_NAMED_GAUGES) this.registry.removeSingleMetric(`callhook_${name}`);
    if (queue) {
      new Gauge({
        name: 'callhook_queue_jobs',
        help: 'Calls in the queue, by state (waiting, active, delayed, failed)',
        labelNames: ['state'],
        registers: [this.registry],
        async collect() {
          const counts = await bounded(queue.getJobCounts(...QUEUE_STATES));
          // No answer from Redis: no sample rather than the last one, which would look current.
          if (!counts) return this.reset();
          for (const state of QUEUE_STATES) this.set({ state }, counts[state] ?? 0);
        },
      });
    }
    const { workers, ready } = sources;
    if (workers) {
      new Gauge({
        name: 'callhook_queue_workers',
        help: 'Worker connections on the calls queue, as BullMQ sees them in Redis (every process reports the same fleet-wide number)',
        // A label so that "Redis did not answer" can be no sample: an unlabelled gauge always shows a value, and 0 would say "no worker".
        labelNames: ['queue'],
        registers: [this.registry],
        async collect() {
          // No answer, or a Redis that will not list its clients: no sample (unknown, not 0 workers).
          const count = await bounded(workers.count());
          if (count === undefined) return this.reset();
          this.set({ queue: workers.queue }, count);
        },
      });
    }
    if (ready) {
      new Gauge({
        name: 'callhook_redis_ready',
        help: 'Whether Redis answered and took a write within 2 s at this scrape (1) or not (0), as /readyz checks it',
        registers: [this.registry],
        async collect() {
          this.set((await bounded(ready().then(() => true))) === true ? 1 : 0);
        },
      });
    }
  }

  /**
   * Puts at 0 every series the alert rules read, for the loaded policies: Prometheus's increase()
   * cannot count the first event of a series that first appears already at 1, so a circuit's
   * first opening (or a first token failure) never alerted.
   */
  startAtZero(config: CallhookConfig): void {
    for (const status of ['completed', 'partial', 'failed', 'unmatched']) this.callsFinished.inc({ status }, 0);
    for (const policy of config.policies) {
      for (const app of policy.apps) {
        for (const status of ['success', 'failed', 'skipped']) this.appResults.inc({ policy: policy.id, app: app.slug, status }, 0);
        for (const outcome of ['success', 'retry', 'failed']) this.appAttempts.inc({ policy: policy.id, app: app.slug, phase: app.phase, outcome }, 0);
        if (app.circuit) for (const state of ['open', 'closed']) this.circuitChanges.inc({ destination: app.destination ?? templatedHostLabel(policy.id, app.slug), state }, 0);
        if (app.auth.type === 'oauth2') for (const outcome of ['success', 'failure']) this.oauthFetches.inc({ outcome }, 0);
      }
    }
  }

  enqueued(statuses: readonly { status: 'queued' | 'duplicate' }[]): void {
    for (const { status } of statuses) this.callsReceived.inc({ status });
  }

  curriAnswered(decision: string, outcome: string, durationMs: number): void {
    this.curriResponses.inc({ decision, outcome });
    this.curriDuration.observe(durationMs / 1000);
  }

  waited(context: AppContext, reason: WaitReason): void {
    this.appWaits.inc({ policy: context.policy, app: context.app, reason });
  }

  circuitChanged(change: { destination: string; state: 'open' | 'closed'; policy: string; app: string; templatedHost: boolean }): void {
    this.circuitChanges.inc({ destination: change.templatedHost ? templatedHostLabel(change.policy, change.app) : change.destination, state: change.state });
  }

  /** Redis's eviction policy, as the eviction watch last read it. */
  redisEvictionPolicy(evicting: boolean): void {
    this.redisEvicting.set(evicting ? 1 : 0);
  }

  keysEvicted(count: number): void {
    this.redisEvictedKeys.inc(count);
  }

  tokenFetched(ok: boolean): void {
    this.oauthFetches.inc({ outcome: ok ? 'success' : 'failure' });
  }

  /** An attempt of a queued (post-call) app, run by a worker. */
  attempt(context: AppContext, verdict: AttemptVerdict, durationMs: number): void {
    this.countAttempt(context, 'post_call', verdict, durationMs);
  }

  /**
   * The observer of the apps the API runs inside a request (`/v1/realtime`, CURRI): their
   * attempts are labelled `phase="real_time"`, so that the stuck-workers alert can count the
   * workers' progress alone.
   */
  readonly realTime: PipelineObserver = {
    attempt: (context, verdict, durationMs) => this.countAttempt(context, 'real_time', verdict, durationMs),
    result: (context, result) => this.result(context, result),
    callFinished: (callId, policy, status) => this.callFinished(callId, policy, status),
  };

  private countAttempt(context: AppContext, phase: Phase, verdict: AttemptVerdict, durationMs: number): void {
    this.appAttempts.inc({ policy: context.policy, app: context.app, phase, outcome: verdict });
    this.httpDuration.observe({ policy: context.policy, app: context.app }, durationMs / 1000);
  }

  result(context: AppContext, result: AppResult): void {
    this.appResults.inc({ policy: context.policy, app: context.app, status: result.status });
  }

  callFinished(_callId: string, _policy: string | null, status: CallStatus): void {
    this.callsFinished.inc({ status });
  }

  /** A call this worker saw BullMQ give up on. */
  callGivenUp(): void {
    this.callsGivenUp.inc();
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** The promise's value, or undefined when it fails or takes longer than SCRAPE_REDIS_TIMEOUT_MS. */
async function bounded<T>(promise: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), SCRAPE_REDIS_TIMEOUT_MS);
  });
  try {
    return await Promise.race([promise.catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

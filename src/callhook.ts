import type { Worker } from 'bullmq';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { registerOpsRoutes } from './api/routes/ops';
import { buildApi, type ApiDeps } from './api/server';
import { SettingsError } from './errors';
import type { CallhookConfig } from './policies/types';
import type { CallJobData } from './queue/calls-queue';
import { closeCallWorker, createCallWorker, type CallWorker } from './queue/worker';
import { openWriterRuntime, type Runtime } from './runtime';
import { apiExposureProblems, apiTokenWarnings, type Settings } from './settings';
import { ExpiredEntriesTrimmer } from './store/expiry';
import { upgradeStore } from './store/upgrade';

/** How often each API and worker process trims the indexes and the feed of what the TTL expired. */
const TRIM_EVERY_MS = 60_000;

export interface CallhookRoles {
  /** Serve the HTTP API on settings.host:port. */
  api: boolean;
  /** Run a worker that takes calls off the queue. */
  worker: boolean;
  /** API server timeouts (tests shorten them). */
  apiTimeouts?: ApiDeps['timeouts'];
  /** Re-reads the policies file (the console's Policies screen shows what `config check` would say now). */
  checkConfig?: () => string[];
}

export interface CallhookProcess {
  runtime: Runtime;
  api: FastifyInstance | undefined;
  worker: Worker<CallJobData, string> | undefined;
  /** The API's port (the one chosen when settings.port is 0), or 0 without an API. */
  port: number;
  /** Stops taking work, lets calls in flight finish, closes every connection. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * The one place that builds a callhook process from settings and config: checks what must hold
 * before anything starts, then the runtime, the worker and the API. `start`, `api`, `worker`,
 * `demo` and the test harness all start here, so tests run production's wiring.
 * @throws SettingsError when the API would be exposed without a strong token, or Redis evicts keys.
 */
export async function startCallhook(settings: Settings, config: CallhookConfig, logger: Logger, roles: CallhookRoles): Promise<CallhookProcess> {
  const problems = roles.api ? apiExposureProblems(settings) : [];
  if (problems.length > 0) throw new SettingsError(problems);
  if (roles.api) for (const warning of apiTokenWarnings(settings)) logger.warn(warning);
  for (const warning of config.warnings) logger.warn(`policies file: ${warning}`);
  // Refuses a Redis that evicts keys, and watches for its policy changing later.
  const runtime = await openWriterRuntime(settings, config, logger);
  const closers: (() => Promise<unknown>)[] = [];
  // All at once: the worker takes no new call while the API waits for its requests in flight
  // (a Call Test may take its apps' whole timeouts), and calls queued meanwhile wait in Redis.
  const stopAll = async () => {
    await Promise.all(closers.map((close) => close()));
    await runtime.close();
  };
  try {
    // Records an older callhook wrote are listed, searched and exported like the others from the start.
    await upgradeStore(runtime.redis, settings.prefix, settings.resultTtlMs, logger);
    // Circuits other processes opened (or this one before a restart) hold this worker's calls and
    // refuse the API's real-time apps at once, instead of spending CUCM's deadline on them.
    const stopWatching = runtime.gate.watchCircuits();
    closers.push(async () => stopWatching());
    // Without new writes, nothing else trims the indexes and the feed of expired calls.
    const trimmer = new ExpiredEntriesTrimmer(runtime.redis, settings.prefix, settings.resultTtlMs, config.policies.map((policy) => policy.id));
    trimmer.start(TRIM_EVERY_MS, (error) => logger.warn({ err: error.message }, 'trimming expired index and feed entries failed'));
    closers.push(async () => trimmer.stop());
    const worker = roles.worker ? startWorker(runtime, closers) : undefined;
    if (worker && !roles.api && settings.metricsPort !== undefined) await startOpsServer(runtime, closers);
    const api = roles.api ? await startApi(runtime, roles, closers) : undefined;
    const address = api?.server.address();
    let stopping: Promise<void> | undefined;
    return {
      runtime,
      api,
      worker,
      port: typeof address === 'object' && address ? address.port : 0,
      stop: () => (stopping ??= stopAll()),
    };
  } catch (error) {
    await stopAll().catch(() => undefined);
    throw error;
  }
}

function startWorker(runtime: Runtime, closers: (() => Promise<unknown>)[]): CallWorker {
  const { settings, config, logger } = runtime;
  const worker = createCallWorker({
    connection: runtime.redis,
    prefix: settings.prefix,
    config,
    store: runtime.store,
    sender: runtime.sender,
    redactor: runtime.redactor,
    logger,
    observer: runtime.metrics,
    onGivenUp: () => runtime.metrics.callGivenUp(),
    gate: runtime.gate,
    concurrency: settings.concurrency,
    lockDurationMs: settings.lockDurationMs,
  });
  worker.on('error', (error) => logger.warn({ err: error.message }, 'worker error'));
  closers.push(() => closeCallWorker(worker, runtime.redisDown));
  logger.info({ concurrency: settings.concurrency, policies: config.policies.length }, 'worker started');
  return worker;
}

/**
 * A process without the API (a worker, the CDR ingester) serves /metrics, /healthz and /readyz
 * on CALLHOOK_METRICS_PORT: its counters are its own, and Prometheus must scrape them there. It
 * listens on CALLHOOK_METRICS_HOST (else CALLHOOK_HOST): these routes hold no call data and need
 * no token, so the API's loopback default does not have to bind them too.
 */
export async function startOpsServer(runtime: Runtime, closers: (() => Promise<unknown>)[], role: 'worker' | 'cdr ingester' = 'worker'): Promise<void> {
  const { settings, logger } = runtime;
  const ops = Fastify();
  registerOpsRoutes(ops, { metrics: runtime.metrics, ready: () => runtime.ready() });
  await ops.listen({ host: settings.metricsHost, port: settings.metricsPort });
  closers.push(() => ops.close());
  const address = ops.server.address();
  logger.info({ url: `http://${settings.metricsHost}:${typeof address === 'object' && address ? address.port : settings.metricsPort}/metrics` }, `${role} metrics listening`);
}

async function startApi(runtime: Runtime, roles: CallhookRoles, closers: (() => Promise<unknown>)[]): Promise<FastifyInstance> {
  const { settings, logger } = runtime;
  const api = buildApi({
    config: runtime.config,
    sender: runtime.sender,
    redactor: runtime.redactor,
    gate: runtime.gate,
    producer: runtime.producer,
    store: runtime.store,
    index: runtime.index,
    feed: runtime.feed,
    replayer: runtime.replayer,
    logger,
    apiToken: settings.apiToken,
    metrics: runtime.metrics,
    ready: () => runtime.ready(),
    redisDown: runtime.redisDown,
    timeouts: roles.apiTimeouts,
    queue: runtime.queue,
    redis: runtime.redis,
    prefix: settings.prefix,
    checkConfig: roles.checkConfig,
    curri: {
      config: runtime.config,
      sender: runtime.sender,
      redactor: runtime.redactor,
      observer: runtime.metrics.realTime,
      gate: runtime.gate,
      store: runtime.store,
      enqueue: (event) => runtime.producer.enqueue([event]),
      logger,
      timeoutMs: settings.curriTimeoutMs,
      redisDown: runtime.redisDown,
    },
  });
  await api.listen({ host: settings.host, port: settings.port });
  closers.unshift(async () => {
    // Long polls end (empty) instead of holding the close for up to their whole wait.
    runtime.feed.close();
    // A keep-alive connection busy when the close began would hold it until its keep-alive
    // timeout (65 s) once its request is answered: each is closed as soon as it is idle.
    const idle = setInterval(() => api.server.closeIdleConnections(), 100);
    try {
      await api.close();
    } finally {
      clearInterval(idle);
    }
  });
  const address = api.server.address();
  logger.info({ url: `http://${settings.host}:${typeof address === 'object' && address ? address.port : settings.port}` }, 'api listening');
  return api;
}

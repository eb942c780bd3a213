import type { Queue } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RedisDeliveryGate } from './delivery/gate';
import { Metrics } from './metrics/metrics';
import type { CallhookConfig } from './policies/types';
import { createCallsQueue, type CallJobData } from './queue/calls-queue';
import { queueWorkers } from './queue/stats';
import { CallProducer } from './queue/producer';
import { Replayer } from './queue/replay';
import type { Settings } from './settings';
import { SettingsError } from './errors';
import { CallIndex } from './store/call-index';
import { CallStore, type RedisClient } from './store/call-store';
import { checkEviction, EvictionWatch } from './store/eviction';
import { ResultsFeed } from './store/results-feed';
import { Redactor } from './util/redact';
import { closeHttpClient, createHttpClient, proxySecrets } from './webhook/http-client';
import { OAuthTokenCache } from './webhook/oauth';
import { HttpSender } from './webhook/send';

/** Everything a callhook process shares: its Redis connections, the queue, the store, the HTTP client. */
export interface Runtime {
  settings: Settings;
  config: CallhookConfig;
  logger: Logger;
  redis: RedisClient;
  store: CallStore;
  /** The list query over the call indexes. */
  index: CallIndex;
  /** The results feed (a Redis Stream). */
  feed: ResultsFeed;
  queue: Queue<CallJobData>;
  producer: CallProducer;
  sender: HttpSender;
  /** The configured secrets: every result, request trace and log line is redacted with it. */
  redactor: Redactor;
  metrics: Metrics;
  /** Rate limits and circuit breakers, shared with every other process through Redis. */
  gate: RedisDeliveryGate;
  replayer: Replayer;
  /** Redis's eviction policy and evicted keys, checked once a minute in a process that writes (openWriterRuntime). */
  eviction: EvictionWatch;
  /**
   * The readiness probe (`/readyz`, `callhook_redis_ready`): rejects while Redis's policy evicts
   * keys, while the call records' connection is down, or when Redis refuses a write.
   */
  ready(): Promise<unknown>;
  /** A new Redis connection for one blocking read; the caller closes it. */
  blockingRedis(): RedisClient;
  /** Whether a connection the API writes through is down (lost, reconnecting). */
  redisDown(): boolean;
  /** Calls `listener` whenever one of the shared connections closes (lost, or a reconnection attempt failed). */
  onRedisLost(listener: () => void): void;
  /** Resolves once the shared connections are ready; rejects after `timeoutMs`. */
  connected(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * For a process that must not wait on Redis (the CDR ingester, which has a checkpoint to resume
 * from): a command fails at once while its connection is down (no offline queue), and after
 * `commandTimeoutMs` without an answer; one a lost connection took with it is failed, not sent
 * again behind the caller's back when Redis is back. BullMQ's worker needs the opposite
 * (commands that wait out a reconnection), so the API and worker keep the default.
 */
export interface FailFast {
  commandTimeoutMs: number;
}

export interface ConnectOptions {
  /** Send the commands issued in one tick in one write. */
  autoPipelining?: boolean;
  failFast?: FailFast;
}

function failFastOptions(failFast: FailFast | undefined) {
  return failFast && { enableOfflineQueue: false, autoResendUnfulfilledCommands: false, commandTimeout: failFast.commandTimeoutMs };
}

/**
 * One Redis connection. BullMQ needs maxRetriesPerRequest: null so blocking commands survive
 * reconnects (with `failFast` nothing waits for a reconnection, so it no longer matters).
 */
export function createRedis(url: string, options: ConnectOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, enableAutoPipelining: options.autoPipelining ?? false, ...failFastOptions(options.failFast) });
}

/** A Redis client, or a Redis Cluster client when `url` lists several seed nodes (`redis://a:7000,redis://b:7000`). */
export function connectRedis(url: string, options: ConnectOptions = {}): RedisClient {
  const nodes = url.split(',').map((u) => u.trim()).filter(Boolean);
  if (nodes.length === 1) return createRedis(url, options);
  const first = new URL(nodes[0] ?? '');
  return new Cluster(
    nodes.map((node) => {
      const { hostname, port } = new URL(node);
      return { host: hostname, port: Number(port || 6379) };
    }),
    {
      enableAutoPipelining: options.autoPipelining ?? false,
      ...(options.failFast && { enableOfflineQueue: false }),
      redisOptions: {
        ...failFastOptions(options.failFast),
        maxRetriesPerRequest: null,
        username: first.username ? decodeURIComponent(first.username) : undefined,
        password: first.password ? decodeURIComponent(first.password) : undefined,
        tls: first.protocol === 'rediss:' ? {} : undefined,
      },
    },
  );
}

/**
 * Whether a connection has closed since it was last ready: its commands would wait for a
 * reconnection. Its status alone flaps back to `connecting` on every attempt.
 */
function lostWatch(client: RedisClient): () => boolean {
  let lost = false;
  client.on('ready', () => (lost = false));
  client.on('close', () => (lost = true));
  return () => lost;
}

/** Resolves when `client` is ready; rejects after `timeoutMs`. */
function untilReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const ready = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      client.off('ready', ready);
      reject(new Error(`Redis connection not ready after ${timeoutMs} ms (${client.status})`));
    }, timeoutMs);
    client.once('ready', ready);
  });
}

/**
 * Builds the shared parts of a process from settings and config; connections open lazily.
 * `failFast`: its connections never wait for Redis (FailFast; the CDR ingester's).
 */
export function createRuntime(settings: Settings, config: CallhookConfig, logger: Logger, options: { failFast?: FailFast } = {}): Runtime {
  const redis = connectRedis(settings.redisUrl, { failFast: options.failFast });
  // The call records get a connection of their own: BullMQ defines ~65 scripts on its
  // connection, which every ioredis pipeline copies, and with auto-pipelining the checkpoints
  // of all calls in flight that fall in one tick go out in one write.
  const storeRedis = connectRedis(settings.redisUrl, { autoPipelining: true, failFast: options.failFast });
  // Once closing, a connection's errors (a reconnection attempt cut short) say nothing.
  let closing = false;
  for (const client of [redis, storeRedis]) client.on('error', (error: Error) => closing || logger.warn({ err: error.message }, 'redis connection error'));
  const [redisLost, storeLost] = [lostWatch(redis), lostWatch(storeRedis)];
  const store = new CallStore(storeRedis, settings.prefix, settings.resultTtlMs);
  const queue = createCallsQueue(redis, settings.prefix);
  // The connection's own listener above logs these; unheard, BullMQ would print each to stderr.
  queue.on('error', (error: Error) => logger.debug({ err: error.message }, 'queue connection error'));
  const eviction = new EvictionWatch(redis, {
    policyChanged(policy, problem) {
      metrics.redisEvictionPolicy(problem !== undefined);
      if (problem) logger.error({ maxmemory_policy: policy }, `${problem}. Until then this process is not ready (/readyz answers 503)`);
      else logger.info({ maxmemory_policy: policy }, 'Redis maxmemory-policy is noeviction again: no call record or queued call is evicted');
    },
    keysEvicted(count) {
      metrics.keysEvicted(count);
      logger.error({ evicted_keys: count }, `Redis evicted ${count} keys in the last minute: call records and queued calls may be lost. Set maxmemory-policy noeviction, and give Redis more memory`);
    },
  });
  const ready = async () => {
    eviction.assertNotEvicting();
    // While the connection is down, ioredis would hold the probe in its offline queue: say not ready at once.
    if (storeRedis.status !== 'ready') throw new Error(`redis connection ${storeRedis.status}`);
    return store.probeWritable();
  };
  const metrics = new Metrics(queue, {
    // Unknown (no sample) on a Redis that will not list its clients, rather than BullMQ's placeholder counted as 1.
    workers: { queue: queue.name, count: async () => (await queueWorkers(queue))?.length },
    ready,
  }, { curriTimeoutMs: settings.curriTimeoutMs });
  metrics.startAtZero(config);
  const http = createHttpClient({ proxyEnv: settings.proxyEnv });
  const gate = new RedisDeliveryGate(storeRedis, settings.prefix, (change) => {
    const { destination, state, failures, openUntil } = change;
    metrics.circuitChanged(change);
    if (state === 'open') logger.warn({ destination, failures, open_until: new Date(openUntil ?? 0).toISOString() }, 'circuit opened: calls to this destination wait');
    else logger.info({ destination }, 'circuit closed: the destination answers again');
  });
  const blockingRedis = () => {
    const client = connectRedis(settings.redisUrl);
    client.on('error', (error: Error) => logger.debug({ err: error.message }, 'blocking redis connection error'));
    return client;
  };
  const feed = new ResultsFeed(storeRedis, settings.prefix, blockingRedis);
  return {
    gate,
    settings,
    config,
    logger,
    redis,
    store,
    index: new CallIndex(storeRedis, settings.prefix, settings.resultTtlMs),
    feed,
    queue,
    producer: new CallProducer(queue, store, (results) => metrics.enqueued(results)),
    sender: new HttpSender(http, new OAuthTokenCache(http, Date.now, undefined, (ok) => metrics.tokenFetched(ok))),
    redactor: new Redactor([...config.secrets, ...proxySecrets(settings.proxyEnv)]),
    metrics,
    replayer: new Replayer(queue, store, config, settings.prefix),
    eviction,
    ready,
    blockingRedis,
    redisDown: () => redisLost() || storeLost(),
    onRedisLost(listener) {
      for (const client of [redis, storeRedis]) client.on('close', listener);
    },
    connected: (timeoutMs) => Promise.all([redis, storeRedis].map((client) => untilReady(client, timeoutMs))).then(() => undefined),
    async close() {
      closing = true;
      eviction.stop();
      feed.close();
      await queue.close();
      closeHttpClient(http);
      for (const client of [redis, storeRedis]) await client.quit().catch(() => client.disconnect());
    },
  };
}

/** How often a process that writes re-reads Redis's eviction policy and evicted keys. */
const EVICTION_CHECK_MS = 60_000;

/**
 * The runtime of a process that writes call records or queues calls (`start`, `api`, `worker`,
 * `ingest-cdr`, `replay`): refuses a Redis that evicts keys, as it would silently drop them, and
 * then watches for the policy changing while it runs. Where Redis will not tell its policy
 * (INFO and CONFIG disabled), warns loudly. With `failFast`, waits for the connection first
 * (its commands would fail at once), at most its command timeout.
 * @throws SettingsError when Redis evicts keys.
 */
export async function openWriterRuntime(settings: Settings, config: CallhookConfig, logger: Logger, options: { failFast?: FailFast } = {}): Promise<Runtime> {
  const runtime = createRuntime(settings, config, logger, options);
  try {
    if (options.failFast) await runtime.connected(options.failFast.commandTimeoutMs);
    const { problem, warning } = await checkEviction(runtime.redis);
    if (problem) throw new SettingsError([problem]);
    if (warning) logger.warn(warning);
    await runtime.eviction.start(EVICTION_CHECK_MS, (error) => logger.warn({ err: error.message }, 'reading Redis maxmemory-policy and evicted_keys (INFO) failed: eviction is not watched until it answers again'));
    return runtime;
  } catch (error) {
    await runtime.close().catch(() => undefined);
    throw error;
  }
}

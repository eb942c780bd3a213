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
import { CallIndex } from './store/call-index';
import { CallStore, type RedisClient } from './store/call-store';
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
  const metrics = new Metrics(queue, {
    // Unknown (no sample) on a Redis that will not list its clients, rather than BullMQ's placeholder counted as 1.
    workers: { queue: queue.name, count: async () => (await queueWorkers(queue))?.length },
    // While the connection is down, ioredis would hold the probe in its offline queue: say not ready at once.
    ready: () => (storeRedis.status === 'ready' ? store.probeWritable() : Promise.reject(new Error(`redis connection ${storeRedis.status}`))),
  });
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
    blockingRedis,
    redisDown: () => redisLost() || storeLost(),
    onRedisLost(listener) {
      for (const client of [redis, storeRedis]) client.on('close', listener);
    },
    connected: (timeoutMs) => Promise.all([redis, storeRedis].map((client) => untilReady(client, timeoutMs))).then(() => undefined),
    async close() {
      closing = true;
      feed.close();
      await queue.close();
      closeHttpClient(http);
      for (const client of [redis, storeRedis]) await client.quit().catch(() => client.disconnect());
    },
  };
}

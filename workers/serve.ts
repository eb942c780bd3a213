import Fastify from 'fastify';
import { buildApi } from '../src/api/server';
import { registerOpsRoutes } from '../src/api/routes/ops';
import { ConfigError, SettingsError } from '../src/errors';
import { createLogger } from '../src/logger';
import { loadConfigFile } from '../src/policies/load';
import { createCallWorker } from '../src/queue/worker';
import { createRuntime, type Runtime } from '../src/runtime';
import { apiExposureProblems, parseSettings, type Settings } from '../src/settings';
import { resolveRedis } from './redis-fallback';

function portOf(address: string | { port: number } | null): number | undefined {
  return typeof address === 'object' && address ? address.port : undefined;
}

/** Stops the process with one clear line per problem (exit 1). */
export function fail(lines: string | string[]): never {
  for (const line of [lines].flat()) process.stderr.write(`callhook: ${line}\n`);
  process.exit(1);
}

/** Settings and config, or exit 1 with every problem. */
export function loadOrExit(env: NodeJS.ProcessEnv = process.env, configPath?: string) {
  let settings: Settings;
  try {
    settings = parseSettings(env);
  } catch (error) {
    if (error instanceof SettingsError) fail(error.problems);
    throw error;
  }
  if (configPath) settings = { ...settings, configPath };
  try {
    return { settings, config: loadConfigFile(settings.configPath, env) };
  } catch (error) {
    if (error instanceof ConfigError) fail(error.problems);
    throw error;
  }
}

export interface ServeOptions {
  api: boolean;
  worker: boolean;
  configPath?: string;
  /** Start a private redis-server when none answers (`start` and `demo` only). */
  allowPrivateRedis?: boolean;
}

/** Runs the API and/or a worker until SIGTERM/SIGINT; returns a stop function (used by the demo). */
export async function serve(options: ServeOptions): Promise<{ runtime: Runtime; port: number; stop: () => Promise<void> }> {
  const loaded = loadOrExit(process.env, options.configPath);
  const { config } = loaded;
  const logger = createLogger({ level: loaded.settings.logLevel, secrets: config.secrets });
  const redis = await resolveRedis(loaded.settings, logger, options.allowPrivateRedis ?? false);
  const settings = { ...loaded.settings, redisUrl: redis.url };
  if (options.api) {
    const problems = apiExposureProblems(settings);
    if (problems.length > 0) fail(problems);
  }

  const runtime = createRuntime(settings, config, logger);
  const closers: (() => Promise<unknown>)[] = [];
  let port = 0;
  if (options.worker) {
    const worker = createCallWorker({
      connection: runtime.redis,
      prefix: settings.prefix,
      config,
      store: runtime.store,
      send: runtime.send,
      logger,
      observer: runtime.metrics,
      concurrency: settings.concurrency,
      lockDurationMs: settings.lockDurationMs,
      stalledIntervalMs: Math.min(30_000, settings.lockDurationMs),
    });
    worker.on('error', (error) => logger.warn({ err: error.message }, 'worker error'));
    closers.push(() => worker.close());
    logger.info({ concurrency: settings.concurrency, policies: config.policies.length }, 'worker started');
    if (!options.api && settings.metricsPort !== undefined) {
      const ops = Fastify();
      registerOpsRoutes(ops, { metrics: runtime.metrics, ready: () => runtime.store.probeWritable() });
      await ops.listen({ host: settings.host, port: settings.metricsPort });
      closers.push(() => ops.close());
      logger.info({ url: `http://${settings.host}:${portOf(ops.server.address())}/metrics` }, 'worker metrics listening');
    }
  }
  if (options.api) {
    const api = buildApi({
      config,
      send: runtime.send,
      producer: runtime.producer,
      store: runtime.store,
      replayer: runtime.replayer,
      logger,
      apiToken: settings.apiToken,
      metrics: runtime.metrics,
      ready: () => runtime.store.probeWritable(),
    });
    await api.listen({ host: settings.host, port: settings.port });
    port = portOf(api.server.address()) ?? settings.port;
    closers.unshift(() => api.close());
    logger.info({ url: `http://${settings.host}:${port}` }, 'api listening');
  }

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      for (const close of closers) await close();
      await runtime.close();
      await redis.stop();
    })());

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    logger.info({ signal }, 'shutting down: finishing in-flight calls');
    const timer = setTimeout(() => {
      logger.error({ timeout_ms: settings.shutdownTimeoutMs }, 'shutdown timed out: exiting');
      process.exit(1);
    }, settings.shutdownTimeoutMs);
    timer.unref();
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return { runtime, port, stop };
}

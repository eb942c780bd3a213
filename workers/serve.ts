import { startCallhook, type CallhookProcess } from '../src/callhook';
import { SettingsError } from '../src/errors';
import { createLogger } from '../src/logger';
import type { CallhookConfig } from '../src/policies/types';
import type { Settings } from '../src/settings';
import { configProblems, fail, loadOrExit, onStopSignals } from './cli-support';
import { resolveRedis } from './redis-fallback';

export interface ServeOptions {
  api: boolean;
  worker: boolean;
  configPath?: string | undefined;
  /** Start a private redis-server when none answers (`start` and `demo` only). */
  allowPrivateRedis?: boolean;
  /** Settings and config already loaded (the demo); else read from the environment. */
  loaded?: { settings: Settings; config: CallhookConfig };
  /** Handle SIGTERM/SIGINT (graceful stop, second signal exits). @defaultValue true */
  handleSignals?: boolean;
}

/** `start`, `api`, `worker`: one callhook process until SIGTERM/SIGINT. */
export async function serve(options: ServeOptions): Promise<CallhookProcess> {
  const loaded = options.loaded ?? loadOrExit(process.env, options.configPath);
  const logger = createLogger({ level: loaded.settings.logLevel, secrets: loaded.config.secrets });
  const redis = await resolveRedis(loaded.settings, logger, options.allowPrivateRedis ?? false);
  const settings = { ...loaded.settings, redisUrl: redis.url };
  let process_: CallhookProcess;
  try {
    process_ = await startCallhook(settings, loaded.config, logger, {
      api: options.api,
      worker: options.worker,
      checkConfig: () => configProblems(settings.configPath),
    });
  } catch (error) {
    await redis.stop();
    if (error instanceof SettingsError) fail(error.problems);
    throw error;
  }
  const stop = async () => {
    await process_.stop();
    await redis.stop();
  };
  if (options.handleSignals !== false) {
    onStopSignals(
      (signal) => {
        logger.info({ signal }, 'shutting down: finishing in-flight calls');
        setTimeout(() => {
          logger.error({ timeout_ms: settings.shutdownTimeoutMs }, 'shutdown timed out: exiting');
          process.exit(1);
        }, settings.shutdownTimeoutMs).unref();
        stop().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      },
      (signal) => logger.warn({ signal }, 'second signal: exiting now'),
    );
  }
  return { ...process_, stop };
}

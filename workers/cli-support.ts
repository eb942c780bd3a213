export { fail } from './fail';
import { existsSync } from 'node:fs';
import pino from 'pino';
import { ConfigError, SettingsError } from '../src/errors';
import { createLogger } from '../src/logger';
import { createRuntime, openWriterRuntime, type Runtime } from '../src/runtime';
import { fail } from './fail';
import { requireRedis } from './redis-fallback';
import { loadConfigFile } from '../src/policies/load';
import type { CallhookConfig } from '../src/policies/types';
import { configPathOf, parseSettings, type Settings } from '../src/settings';

/**
 * Settings and config from `env` (and `--config`), or exit with every problem: 1, or `exitCode`
 * for a command whose 1 means something else (`call-test`: an app failed).
 */
export function loadOrExit(env: NodeJS.ProcessEnv = process.env, configPath?: string, exitCode = 1): { settings: Settings; config: CallhookConfig } {
  try {
    const parsed = parseSettings(env);
    const settings = configPath ? { ...parsed, configPath } : parsed;
    return { settings, config: loadConfigFile(settings.configPath, env) };
  } catch (error) {
    if (error instanceof SettingsError || error instanceof ConfigError) fail(error.problems, exitCode);
    throw error;
  }
}

/** No policies: what a command that only reads results runs with when it cannot load the file. */
const NO_POLICIES: CallhookConfig = Object.freeze({ policies: [], byId: new Map(), secrets: [], warnings: [], source: 'none' });

/**
 * Settings, and the policies file if it loads, for a command that only reads results (`calls`,
 * `results`, `export`): there the policies only put each call's app results in run order. The
 * records are redacted when stored, so they print as the API shows them, secrets or not. Such a
 * command runs where the workers' secrets are not (an analytics host, an operator's shell):
 * without the file it goes on, saying so unless the file is the default one and absent.
 */
function loadForReading(env: NodeJS.ProcessEnv, configPath: string | undefined): { settings: Settings; config: CallhookConfig } {
  let settings: Settings;
  try {
    const parsed = parseSettings(env);
    settings = configPath ? { ...parsed, configPath } : parsed;
  } catch (error) {
    if (error instanceof SettingsError) fail(error.problems);
    throw error;
  }
  try {
    return { settings, config: loadConfigFile(settings.configPath, env) };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const named = configPath !== undefined || !!env.CALLHOOK_CONFIG;
    if (named || existsSync(settings.configPath)) {
      process.stderr.write(`callhook: ${error.problems.join('; ')}: going on without the policies file (app results in stored order; only replay and the commands that run calls need it)\n`);
    }
    return { settings, config: NO_POLICIES };
  }
}

/**
 * The policies file alone (`--config`, else `CALLHOOK_CONFIG`), or exit 1 with its problems: for
 * `config check`, which checks the file and the `${VAR}`s it names, not the process's settings
 * (a bad CALLHOOK_CONCURRENCY is no problem of the file's).
 */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env, configPath?: string): CallhookConfig {
  try {
    return loadConfigFile(configPath || configPathOf(env), env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.problems);
    throw error;
  }
}

/** What `config check` would print for the policies file now: one line per problem, none when it loads. */
export function configProblems(path: string): string[] {
  try {
    loadConfigFile(path, process.env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

/**
 * SIGTERM, SIGINT and SIGHUP: the first calls `onFirst` (stop taking work, finish what is in
 * flight), a second one exits at once with `secondExitCode`. SIGHUP too, as an operator sends it
 * to apply a changed policies file: the service manager starts the process again, and Node's
 * default for it would cut the calls in flight off mid-request.
 */
export function onStopSignals(onFirst: (signal: NodeJS.Signals) => void, onSecond: (signal: NodeJS.Signals) => void, secondExitCode = 1): void {
  let signalled = false;
  const handle = (signal: NodeJS.Signals) => {
    if (signalled) {
      onSecond(signal);
      process.exit(secondExitCode);
    }
    signalled = true;
    onFirst(signal);
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
  process.on('SIGHUP', handle);
}

/**
 * For commands that read or write Redis: settings and config (`--config`), Redis checked to
 * answer (else exit 1 with one line), a runtime for `use`, closed after. One that `writes` (queues
 * calls: `replay`) refuses a Redis that evicts keys, as `start` does. Their stdout is their
 * output (NDJSON, CSV, JSON, a table), so the runtime logs (Redis connection warnings) go to
 * stderr: on stdout they were lines in the middle of the data.
 */
export async function withRuntime<T>(configPath: string | undefined, use: (runtime: Runtime) => Promise<T>, access: 'reads' | 'writes' = 'reads'): Promise<T> {
  const { settings, config } = access === 'writes' ? loadOrExit(process.env, configPath) : loadForReading(process.env, configPath);
  await requireRedis(settings.redisUrl);
  const logger = createLogger({ level: 'warn', secrets: config.secrets, destination: pino.destination({ dest: 2, sync: true }) });
  const runtime = access === 'writes' ? await openWriterOrExit(settings, config, logger) : createRuntime(settings, config, logger);
  try {
    return await use(runtime);
  } finally {
    await runtime.close();
  }
}

async function openWriterOrExit(...args: Parameters<typeof openWriterRuntime>): Promise<Runtime> {
  try {
    return await openWriterRuntime(...args);
  } catch (error) {
    if (error instanceof SettingsError) fail(error.problems);
    throw error;
  }
}

/** commander's collector for an option that may be given more than once. */
export const repeatable = (value: string, all: string[]): string[] => [...all, value];

import { parseDuration } from './util/duration';

/** Process settings from the environment (see the README's Environment table). */
export interface Settings {
  redisUrl: string;
  /** True when REDIS_URL was not set, so a private redis-server may be started. */
  redisUrlDefaulted: boolean;
  configPath: string;
  host: string;
  port: number;
  apiToken: string | undefined;
  prefix: string;
  concurrency: number;
  resultTtlMs: number;
  logLevel: string;
  /** BullMQ lock duration: a crashed worker's calls are picked up after this. */
  lockDurationMs: number;
  /** How long SIGTERM waits for in-flight calls before forcing exit. */
  shutdownTimeoutMs: number;
  /** A worker-only process serves /metrics, /healthz and /readyz here when set. */
  metricsPort: number | undefined;
}

export class SettingsError extends Error {
  override name = 'SettingsError';
}

/** Reads settings from `env` (never from process.env directly, so tests pass a plain object). */
export function parseSettings(env: Readonly<Record<string, string | undefined>>): Settings {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}=${raw}: expected a whole number from ${min} to ${max}`);
      return fallback;
    }
    return value;
  };
  const duration = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = parseDuration(raw);
    if (value === undefined) problems.push(`${name}=${raw}: expected a duration such as 30s, 7d or 250ms`);
    return value ?? fallback;
  };
  const prefix = env.CALLHOOK_PREFIX || 'callhook';
  if (/[\s:]/.test(prefix.replace(/^\{[^}]*\}$/, 'x'))) problems.push(`CALLHOOK_PREFIX=${prefix}: no spaces or ':'`);
  const settings: Settings = {
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    redisUrlDefaulted: !env.REDIS_URL,
    configPath: env.CALLHOOK_CONFIG || 'config/policies.yaml',
    host: env.CALLHOOK_HOST || '127.0.0.1',
    port: int('CALLHOOK_PORT', 8080, 0, 65535),
    apiToken: env.CALLHOOK_API_TOKEN || undefined,
    prefix,
    concurrency: int('CALLHOOK_CONCURRENCY', 50, 1, 10_000),
    resultTtlMs: duration('CALLHOOK_RESULT_TTL', 7 * 86_400_000),
    logLevel: env.LOG_LEVEL || 'info',
    lockDurationMs: duration('CALLHOOK_LOCK_DURATION', 30_000),
    shutdownTimeoutMs: duration('CALLHOOK_SHUTDOWN_TIMEOUT', 30_000),
    metricsPort: env.CALLHOOK_METRICS_PORT ? int('CALLHOOK_METRICS_PORT', 0, 0, 65535) : undefined,
  };
  if (settings.redisUrl.includes(',') && !/^\{[^}]+\}/.test(prefix)) {
    problems.push(`CALLHOOK_PREFIX=${prefix}: on Redis Cluster the prefix must be a hash tag such as {callhook}, so a call's keys share one slot`);
  }
  if (problems.length > 0) throw new SettingsError(problems.join('\n'));
  return settings;
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

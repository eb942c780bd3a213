import { DEFAULTS } from './defaults';
import { SettingsError } from './errors';
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
  /** BullMQ lock duration: a crashed worker's calls are picked up after this (plus the stalled check). */
  lockDurationMs: number;
  /** How long SIGTERM waits for in-flight calls before forcing exit. */
  shutdownTimeoutMs: number;
  /** A worker-only process, or `ingest-cdr`, serves /metrics, /healthz and /readyz here when set. */
  metricsPort: number | undefined;
  /**
   * The address that ops server listens on: CALLHOOK_METRICS_HOST, else CALLHOOK_HOST. Its own
   * setting, so Prometheus on another host can scrape a worker while the API stays on loopback.
   */
  metricsHost: string;
  /** A CURRI request is answered within this, real-time apps included. */
  curriTimeoutMs: number;
  /** `ingest-cdr` waits at most this long for a Redis reply before the file fails. */
  cdrRedisTimeoutMs: number;
  /** HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY (either case) as set: webhook and token requests follow them. */
  proxyEnv: Record<string, string>;
}

/** The variables that name a proxy (either case), as axios reads them. */
export const PROXY_URL_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy'];
const PROXY_VARIABLES = [...PROXY_URL_VARIABLES, 'NO_PROXY', 'no_proxy'];
/** pino's levels (`silent` logs nothing); pino rejects any other name with an error that does not say where it came from. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The policies file `env` names (`CALLHOOK_CONFIG`), or the default one. */
export function configPathOf(env: Readonly<Record<string, string | undefined>>): string {
  return env.CALLHOOK_CONFIG || DEFAULTS.configPath;
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
  const duration = (name: string, fallback: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = parseDuration(raw);
    if (value === undefined) problems.push(`${name}=${raw}: expected a duration such as 30s, 7d or 250ms`);
    else if (value < min) problems.push(`${name}=${raw}: must be at least ${min} ms`);
    return value ?? fallback;
  };
  const oneOf = (name: string, allowed: readonly string[], fallback: string): string => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (allowed.includes(raw)) return raw;
    problems.push(`${name}=${raw}: expected one of ${allowed.join(', ')}`);
    return fallback;
  };
  const prefix = env.CALLHOOK_PREFIX || DEFAULTS.prefix;
  // No whitespace anywhere (Redis refuses it in the client names BullMQ gives its connections,
  // which hides the workers from /v1/stats); ':' only inside a {hash tag}.
  if (/\s/.test(prefix) || prefix.replace(/^\{[^}]*\}$/, 'x').includes(':')) problems.push(`CALLHOOK_PREFIX=${prefix}: no spaces or ':'`);
  const host = env.CALLHOOK_HOST || DEFAULTS.host;
  const settings: Settings = {
    redisUrl: env.REDIS_URL || DEFAULTS.redisUrl,
    redisUrlDefaulted: !env.REDIS_URL,
    configPath: configPathOf(env),
    host,
    port: int('CALLHOOK_PORT', DEFAULTS.port, 0, 65535),
    apiToken: env.CALLHOOK_API_TOKEN || undefined,
    prefix,
    concurrency: int('CALLHOOK_CONCURRENCY', DEFAULTS.concurrency, 1, 10_000),
    resultTtlMs: duration('CALLHOOK_RESULT_TTL', DEFAULTS.resultTtlMs, 60_000),
    logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    lockDurationMs: duration('CALLHOOK_LOCK_DURATION', DEFAULTS.lockDurationMs, 1000),
    shutdownTimeoutMs: duration('CALLHOOK_SHUTDOWN_TIMEOUT', DEFAULTS.shutdownTimeoutMs, 0),
    metricsPort: env.CALLHOOK_METRICS_PORT ? int('CALLHOOK_METRICS_PORT', 0, 0, 65535) : undefined,
    metricsHost: env.CALLHOOK_METRICS_HOST || host,
    curriTimeoutMs: duration('CALLHOOK_CURRI_TIMEOUT', DEFAULTS.curriTimeoutMs, 1),
    cdrRedisTimeoutMs: duration('CALLHOOK_CDR_REDIS_TIMEOUT', DEFAULTS.cdrRedisTimeoutMs, 100),
    proxyEnv: proxyEnvOf(env),
  };
  if (settings.redisUrl.includes(',') && !/^\{[^}]+\}/.test(prefix)) {
    problems.push(`CALLHOOK_PREFIX=${prefix}: on Redis Cluster the prefix must be a hash tag such as {callhook}, so a call's keys share one slot`);
  }
  if (problems.length > 0) throw new SettingsError(problems);
  return settings;
}

/** The proxy variables that are set, as axios reads them. */
export function proxyEnvOf(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return Object.fromEntries(PROXY_VARIABLES.filter((name) => env[name]).map((name) => [name, env[name]!]));
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The shortest API token accepted on a non-loopback address. */
export const MIN_EXPOSED_TOKEN_CHARS = 32;
/** Words that mark a token as a placeholder someone forgot to replace. */
const PLACEHOLDER = /change.?me|replace.?me|placeholder|example|your.?token|secret|password/i;

/** Characters a URL's query carries as they are (RFC 3986 unreserved): `+` would be read as a space, `&` and `#` end the value. */
const URL_SAFE_TOKEN = /^[A-Za-z0-9._~-]*$/;

/**
 * What to warn about the API token at start, though it is accepted: one that CUCM's URL
 * (`/curri?api_key=`) only carries percent-encoded. Never says the token or any of its characters.
 */
export function apiTokenWarnings(settings: Pick<Settings, 'apiToken'>): string[] {
  const token = settings.apiToken;
  if (!token || URL_SAFE_TOKEN.test(token)) return [];
  return [
    "CALLHOOK_API_TOKEN has characters other than letters, digits and . _ ~ -: in CUCM's URL (/curri?api_key=) percent-encode it " +
      '(+ as %2B, & as %26, # as %23, % as %25, / as %2F, = as %3D), or /curri answers 401; a hex token (openssl rand -hex 32) needs no encoding',
  ];
}

/**
 * Why the API must not listen where it is configured to, or nothing. On loopback anything goes;
 * elsewhere a strong token is required: one no scanner or README reader can guess.
 */
export function apiExposureProblems(settings: Pick<Settings, 'host' | 'apiToken'>): string[] {
  if (isLoopback(settings.host)) return [];
  const token = settings.apiToken;
  const advice = 'generate one with `openssl rand -hex 32`';
  if (!token) return [`CALLHOOK_HOST=${settings.host} is not a loopback address: set CALLHOOK_API_TOKEN to expose the API (${advice})`];
  if (token.length < MIN_EXPOSED_TOKEN_CHARS) {
    return [`CALLHOOK_API_TOKEN is ${token.length} characters: on a non-loopback address (${settings.host}) it must have at least ${MIN_EXPOSED_TOKEN_CHARS} (${advice})`];
  }
  if (PLACEHOLDER.test(token) || new Set(token).size < 8) {
    return [`CALLHOOK_API_TOKEN looks like a placeholder: on a non-loopback address (${settings.host}) use a random token (${advice})`];
  }
  return [];
}

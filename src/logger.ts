import pino, { type Logger } from 'pino';

/** Field paths that may carry credentials, wherever they appear in a log line. */
const REDACT_PATHS = [
  'password', '*.password', 'token', '*.token', 'access_token', '*.access_token',
  'client_secret', '*.client_secret', 'authorization', '*.authorization', 'Authorization', '*.Authorization',
  '*.headers.authorization', '*.headers.Authorization', 'config.headers.Authorization', 'err.config.headers.Authorization',
  'err.config.data', 'err.request', 'err.response.config',
];

/**
 * pino JSON logs. Besides known credential fields, every configured secret value (auth fields,
 * `${ENV}` substitutions) is replaced wherever it appears in a message or string field.
 */
export function createLogger(options: { level?: string; secrets?: readonly string[]; destination?: pino.DestinationStream } = {}): Logger {
  const secrets = [...(options.secrets ?? [])].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  const scrub = (value: string) => secrets.reduce((text, secret) => text.split(secret).join('[REDACTED]'), value);
  return pino(
    {
      name: 'callhook',
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      hooks: {
        logMethod(args, method) {
          if (secrets.length === 0) return method.apply(this, args);
          method.apply(this, args.map((arg) => scrubDeep(arg, scrub)) as Parameters<typeof method>);
        },
      },
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}

function scrubDeep(value: unknown, scrub: (s: string) => string, depth = 0): unknown {
  if (typeof value === 'string') return scrub(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { type: value.name, message: scrub(value.message), code: (value as { code?: unknown }).code };
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, scrub, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubDeep(v, scrub, depth + 1)]));
}

import pino, { type Logger } from 'pino';
import { REDACTED, Redactor } from './util/redact';

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
  const redactor = new Redactor(options.secrets ?? []);
  return pino(
    {
      name: 'callhook',
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      hooks: {
        logMethod(args, method) {
          if (redactor.empty) return method.apply(this, args);
          method.apply(this, args.map((arg) => redactor.deep(arg)) as Parameters<typeof method>);
        },
      },
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}

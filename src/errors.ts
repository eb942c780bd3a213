/**
 * Every error callhook raises on purpose has a stable `code` (listed in the README),
 * so logs, API answers and app results can be matched on without parsing messages.
 */
export type ErrorCode =
  | 'CALLHOOK_CONFIG_INVALID'
  | 'CALLHOOK_EVENT_INVALID'
  | 'CALLHOOK_POLICY_NOT_FOUND'
  | 'CALLHOOK_TEMPLATE_RENDER'
  | 'CALLHOOK_HTTP_STATUS'
  | 'CALLHOOK_HTTP_NETWORK'
  | 'CALLHOOK_HTTP_TIMEOUT'
  | 'CALLHOOK_RESPONSE_TOO_LARGE'
  | 'CALLHOOK_OAUTH_TOKEN';

export class CallhookError extends Error {
  override name = 'CallhookError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A policies file that cannot be used; `problems` holds one line per problem, each naming its path. */
export class ConfigError extends CallhookError {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super('CALLHOOK_CONFIG_INVALID', `invalid policies file:\n  ${problems.join('\n  ')}`);
  }
}

/** A rendered value cannot be used safely (CR/LF in a header, a templated host...). */
export class TemplateError extends CallhookError {
  override name = 'TemplateError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('CALLHOOK_TEMPLATE_RENDER', message, options);
  }
}

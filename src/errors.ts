/**
 * Every error callhook raises on purpose, in one catalogue: its stable `code`, the HTTP status
 * the API answers it with (null where it is never an API answer), where it shows up and what it
 * means. The README's error table is checked against this list by a test.
 */
export const ERROR_CATALOGUE = {
  CALLHOOK_CONFIG_INVALID: { status: null, where: 'start, `config check`', meaning: 'the policies file has problems (each listed with its path)' },
  CALLHOOK_SETTINGS_INVALID: { status: null, where: 'start', meaning: 'an environment variable has a bad value, or the API would be exposed without a strong token' },
  CALLHOOK_EVENT_INVALID: { status: 400, where: 'API 400', meaning: 'an event failed validation; `problems` lists each' },
  CALLHOOK_BAD_REQUEST: { status: 400, where: 'API 400', meaning: 'the request is not well-formed HTTP, the body is not JSON, is nested too deeply or has a `__proto__` or `constructor.prototype` key, its letters written as they are or as `\\u` escapes (the message says which and where), or a query parameter is invalid' },
  CALLHOOK_UNAUTHORIZED: { status: 401, where: 'API 401', meaning: 'missing or wrong API token' },
  CALLHOOK_FORBIDDEN_HOST: { status: 403, where: 'API 403', meaning: 'no API token is set and the `Host` header is not a loopback name (DNS rebinding guard)' },
  CALLHOOK_FORBIDDEN_ORIGIN: { status: 403, where: 'API 403', meaning: 'no API token is set and a web page of another origin sent a request other than GET or HEAD' },
  CALLHOOK_NOT_FOUND: { status: 404, where: 'API 404', meaning: 'no such route' },
  CALLHOOK_CALL_NOT_FOUND: { status: 404, where: 'API 404', meaning: 'no such call' },
  CALLHOOK_POLICY_NOT_FOUND: { status: 404, where: 'API 404, `call-test`', meaning: 'the event or Call Test names a policy that does not exist' },
  CALLHOOK_REQUEST_TIMEOUT: { status: 408, where: 'API 408', meaning: 'the request headers or the whole request did not arrive in time (*Security*, Limits); the connection is closed' },
  CALLHOOK_REPLAY_CONFLICT: { status: 409, where: 'API 409', meaning: 'the call is completed, still queued or running, has nothing to replay, or its policy is not in the loaded policies' },
  CALLHOOK_EVENT_TOO_LARGE: { status: 413, where: 'API 413', meaning: 'the request body is over the limit' },
  CALLHOOK_UNSUPPORTED_MEDIA_TYPE: { status: 415, where: 'API 415', meaning: 'the body is not `application/json`' },
  CALLHOOK_HEADERS_TOO_LARGE: { status: 431, where: 'API 431', meaning: "the request line and headers are over Node's limit (16 KiB); the connection is closed" },
  CALLHOOK_UNAVAILABLE: { status: 503, where: 'API 503', meaning: 'Redis is unreachable or refuses writes (out of memory); retry after `Retry-After` seconds' },
  CALLHOOK_INTERNAL: { status: 500, where: 'API 500', meaning: 'an unexpected error (logged)' },
  CALLHOOK_TEMPLATE_RENDER: { status: null, where: 'app result', meaning: 'a rendered value is unusable (CR/LF in a header, an invalid URL, a `..` path segment), or a template failed; the message names the field' },
  CALLHOOK_HTTP_STATUS: { status: null, where: 'app result', meaning: 'the receiver answered a non-2xx status' },
  CALLHOOK_HTTP_NETWORK: { status: null, where: 'app result', meaning: 'refused, reset, DNS or other network error' },
  CALLHOOK_HTTP_TIMEOUT: { status: null, where: 'app result', meaning: 'no complete response within `timeout`' },
  CALLHOOK_DEADLINE_PASSED: { status: null, where: 'app result (CURRI)', meaning: "CUCM's deadline (`CALLHOOK_CURRI_TIMEOUT`) passed before the app's request was sent (an earlier app or a slow Redis took the time): nothing was sent, and CUCM got the `on_error` answer" },
  CALLHOOK_CIRCUIT_OPEN: { status: null, where: 'app result (real-time)', meaning: "the app's destination is failing (its circuit is open): a real-time app is not sent, as it cannot wait" },
  CALLHOOK_REQUEST_TOO_LARGE: { status: null, where: 'app result', meaning: 'the rendered request (URL, headers and body) over `max_request_bytes`; nothing is sent' },
  CALLHOOK_RESPONSE_TOO_LARGE: { status: null, where: 'app result', meaning: 'response over `max_response_bytes`' },
  CALLHOOK_OAUTH_TOKEN: { status: null, where: 'app result', meaning: 'the token endpoint failed or refused the client' },
} as const satisfies Record<string, { status: number | null; where: string; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;
/** Codes the API answers with, and so have an HTTP status. */
export type ApiErrorCode = { [C in ErrorCode]: (typeof ERROR_CATALOGUE)[C]['status'] extends number ? C : never }[ErrorCode];

export function httpStatusOf(code: ApiErrorCode): number {
  return ERROR_CATALOGUE[code].status;
}

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

/** Environment settings that cannot be used; one line per problem, each naming its variable. */
export class SettingsError extends CallhookError {
  override name = 'SettingsError';
  constructor(readonly problems: string[]) {
    super('CALLHOOK_SETTINGS_INVALID', problems.join('\n'));
  }
}

/** A rendered request over its app's `max_request_bytes`: not sent, and not retried (it would render the same). */
export class RequestTooLargeError extends CallhookError {
  override name = 'RequestTooLargeError';
  constructor(maxBytes: number) {
    super('CALLHOOK_REQUEST_TOO_LARGE', `the rendered request is larger than max_request_bytes (${maxBytes}); nothing was sent`);
  }
}

/** A rendered value cannot be used safely (CR/LF in a header, a templated host...). */
export class TemplateError extends CallhookError {
  override name = 'TemplateError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('CALLHOOK_TEMPLATE_RENDER', message, options);
  }
}

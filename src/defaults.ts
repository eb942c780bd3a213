/**
 * Every default callhook applies, in one place: settings, the policies schema and the adapters
 * read them from here, and the README's tables state the same values.
 */
const SECOND = 1000;
const DAY = 86_400_000;

export const DEFAULTS = {
  redisUrl: 'redis://127.0.0.1:6379',
  configPath: 'config/policies.yaml',
  host: '127.0.0.1',
  port: 8080,
  prefix: 'callhook',
  /** Calls in flight per worker process. */
  concurrency: 50,
  /** How long call records are kept after their last write. */
  resultTtlMs: 7 * DAY,
  /**
   * BullMQ job lock. With the renewal and stalled check below, a dead worker's calls are taken
   * over within lock + stalled interval (13 s; the fault suite measured 9.8-15.6 s), while a
   * worker whose event loop stalls for up to lock − renewal (7.5 s: a long GC, a busy loop)
   * keeps its lock.
   */
  lockDurationMs: 10 * SECOND,
  lockRenewMs: 2.5 * SECOND,
  stalledIntervalMs: 3 * SECOND,
  shutdownTimeoutMs: 30 * SECOND,
  /** Bounds a CURRI request, real-time apps included; past it CUCM gets the error decision. */
  curriTimeoutMs: 1500,
  /** Bounds one OAuth2 token request. */
  oauthTimeoutMs: 10 * SECOND,
  /**
   * A token endpoint's answer (decompressed) and the token request's body: a token is a few KB
   * at most, and an answer without a bound (or a gzip bomb) would be held whole in memory.
   */
  oauthMaxBytes: 64 * 1024,
  /** CDR events per queue round trip. */
  cdrBatch: 1000,
  /**
   * The longest the CDR ingester waits for one Redis reply before the file fails (and resumes
   * from its checkpoint on the next run); while a connection is down it does not wait at all.
   */
  cdrRedisTimeoutMs: 10 * SECOND,
  app: {
    order: 50,
    timeoutMs: 30 * SECOND,
    retryCount: 3,
    retryDelayMs: 1 * SECOND,
    /** Retry delays vary by up to this fraction either way, so a backlog's retries do not arrive in lockstep. */
    retryJitter: 0.2,
    maxResponseBytes: 1024 * 1024,
    /** A rendered request (URL, headers and body) larger than this fails the app: a loop over call data can multiply a template. */
    maxRequestBytes: 1024 * 1024,
  },
  /** Circuit breaker per destination (scheme, host, port). */
  circuit: {
    /** Consecutive network, 5xx or timeout failures that open it. */
    failures: 5,
    /** How long it stays open before one probe is let through. */
    openForMs: 30 * SECOND,
    // max_wait (how long a call waits for a circuit before it is sent anyway) has no fixed
    // default: it is the app's longest retry schedule (util/backoff longestSchedule), 20 minutes
    // with the default timeout and retries.
  },
} as const;

/** Limits on what the API takes in. */
export const LIMITS = {
  /** One event, as JSON. */
  eventBytes: 256 * 1024,
  /** Events in one `POST /v1/calls` batch. */
  batchEvents: 1000,
  /** A batch request body. */
  batchBodyBytes: 16 * 1024 * 1024,
  /** A body declared over its route's limit is read and thrown away up to this size (so the client can read its 413), beyond it the connection is closed. */
  discardBodyBytes: 64 * 1024 * 1024,
  /** A single-event body (`/v1/realtime`, `/v1/call-test`): one event plus a few fields. */
  singleBodyBytes: 256 * 1024 + 4 * 1024,
  /** JSON nesting depth of a request body. */
  jsonDepth: 64,
  /** Longest call id (a Redis key, a job id, a URL segment, half an Idempotency-Key). */
  callIdChars: 200,
  /** Longest standard string field of an event (numbers, names, device names). */
  eventFieldChars: 256,
} as const;

/** HTTP server timeouts: a slow or idle client cannot hold a socket for longer. */
export const SERVER_TIMEOUTS = {
  /** Time to receive the request headers. */
  headersMs: 10 * SECOND,
  /** Time to receive the whole request (headers and body); the answer may take longer. */
  requestMs: 30 * SECOND,
  /** An idle keep-alive connection is closed after this. */
  keepAliveMs: 65 * SECOND,
} as const;

import { z } from 'zod';
import { LIMITS } from '../../defaults';
import { ERROR_CATALOGUE } from '../../errors';
import { CALL_ID_PATTERN, eventSchema } from '../../events/schema';

/**
 * The API's answers, as zod schemas: they document each route (OpenAPI, through
 * z.toJSONSchema), type the HTTP client (`callhook/client`), and a test checks the real answers
 * against them. Requests are documented from the schemas that validate them (events/schema,
 * api/queries), never from a copy. A schema with an `id` is one component of the document.
 */

const CALL_STATUSES = ['queued', 'running', 'completed', 'partial', 'failed', 'unmatched'] as const;
const APP_STATUSES = ['success', 'failed', 'skipped'] as const;
const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as [keyof typeof ERROR_CATALOGUE, ...(keyof typeof ERROR_CATALOGUE)[]];
const time = () => z.string().describe('ISO 8601 time');

export const callStatus = z.enum(CALL_STATUSES).meta({ id: 'CallStatus', description: 'queued, running, or a final status: completed (no app failed), partial (some failed, some succeeded), failed, unmatched (no policy)' });
export const appStatus = z.enum(APP_STATUSES).meta({ id: 'AppStatus' });

export const appError = z.object({ code: z.enum(ERROR_CODES), message: z.string() }).meta({ id: 'AppError', description: 'Why an app failed (codes: README, Error codes)' });

export const attemptLogEntry = z
  .object({
    at: time(),
    http_status: z.int().nullable(),
    duration_ms: z.number(),
    error: appError.nullable(),
    retry_in_ms: z.number().nullable().describe('the delay the retry decision set before the next attempt (a rate limit or an open circuit may hold that attempt longer: its own `at` says when it went); 0: resent at once with a fresh OAuth2 token; null when none followed'),
  })
  .meta({ id: 'AttemptLogEntry' });

export const appResult = z
  .object({
    status: appStatus,
    http_status: z.int().nullable(),
    data: z.unknown().describe('the parsed JSON response, the text when it is not JSON, null when empty'),
    message: z.string(),
    attempts: z.int(),
    duration_ms: z.number(),
    unresolved: z.array(z.string()).describe('template paths that resolved to nothing'),
    error: appError.nullable(),
    attempts_log: z.array(attemptLogEntry),
    request: z
      .object({ method: z.string(), url: z.string(), headers: z.record(z.string(), z.string()), body_bytes: z.int() })
      .nullable()
      .describe('the last request as sent, redacted, without its body; null when none was sent'),
  })
  .meta({ id: 'AppResult', description: "One app's stored result: what later apps template from (`app_data.<slug>`)" });

/** An event as stored with its call: call_id and timestamp filled in. */
export const storedEvent = eventSchema
  .extend({ call_id: z.string().regex(CALL_ID_PATTERN), timestamp: z.string() })
  .meta({ id: 'StoredEvent', description: 'The call event as accepted: `call_id` and `timestamp` always present, any other field kept' });

export const callRecord = z
  .object({
    call_id: z.string(),
    policy: z.string().nullable(),
    status: callStatus,
    event: storedEvent,
    app_data: z.record(z.string(), appResult).describe('app results by slug, in run order'),
    created_at: time(),
    finished_at: time().nullable(),
  })
  .meta({ id: 'CallRecord', description: 'A call as the API shows it' });

export const enqueueResult = z
  .object({
    call_id: z.string(),
    status: z.enum(['queued', 'duplicate']).describe('`duplicate`: that call_id was queued before, and is not queued again'),
  })
  .meta({ id: 'EnqueueResult' });

export const enqueueAnswer = z.object({ calls: z.array(enqueueResult).describe('one per event, in request order') });

export const callRow = z
  .object({
    call_id: z.string(),
    policy: z.string().nullable(),
    status: callStatus,
    calling_number: z.string(),
    called_number: z.string(),
    created_at: time(),
    finished_at: time().nullable(),
    apps: z.record(z.string(), appStatus).describe("each app's status, in run order"),
  })
  .meta({ id: 'CallRow' });

export const callList = z.object({ calls: z.array(callRow).describe('newest first, by last change'), next_cursor: z.string().nullable().describe('pass as `cursor` for the next page; null on the last page') });

export const replayAnswer = z.object({ call_id: z.string(), status: z.literal('queued'), replayed: z.array(z.string()).describe('slugs of the apps that will run again') });

export const feedPage = z.object({
  entries: z.array(z.object({ id: z.string().describe('stream entry id'), call: callRecord })),
  next_after: z.string().describe('pass as `after` to read on'),
});

export const realtimeAnswer = z.object({
  call_id: z.string(),
  policy: z.string().nullable().describe('null when no policy matched (and no app ran)'),
  app_data: z.record(z.string(), appResult),
  stored: z.boolean().describe('false when the apps ran but their results could not be stored'),
  warning: z.string().optional(),
});

const phase = z.enum(['post_call', 'real_time']);

/** Call Test's body: an event and the policy to run, with the phase (checked by call-test/run.ts parseCallTest). */
export const callTestRequest = eventSchema
  .extend({
    calling_number: z.string().max(LIMITS.eventFieldChars).describe('empty: a call without caller id, as CUCM sends it to /curri (the event gets `transformed_calling_number`, or `anonymous`, and `curri.xml` is what /curri answers)'),
    policy: eventSchema.shape.policy.unwrap().describe('the policy to run (required)'),
    phase: z.enum(['all', 'post_call', 'real_time']).default('all').optional(),
    call_id: eventSchema.shape.call_id.describe('checked as POST /v1/calls checks it, then not used: Call Test always uses its own id, call-test-<uuid>'),
  })
  .meta({ id: 'CallTestRequest' });

export const callTestReport = z
  .object({
    call_id: z.string(),
    policy: z.string(),
    phase: z.enum(['all', 'post_call', 'real_time']),
    event: storedEvent,
    ok: z.boolean().describe('no app failed'),
    apps: z.array(
      z.object({
        name: z.string(),
        slug: z.string(),
        phase,
        order: z.number(),
        request: z.object({ method: z.string(), url: z.string(), headers: z.record(z.string(), z.string()), body: z.unknown().optional().describe('absent when the request had no body') }).nullable().describe('as sent, secrets redacted'),
        response: z.object({ http_status: z.int().nullable(), duration_ms: z.number() }).nullable(),
        result: appResult,
        unresolved: z.array(z.object({ path: z.string(), hint: z.string() })),
      }),
    ),
    curri: z
      .object({ xml: z.string(), outcome: z.enum(['ok', 'app_failed', 'template_error', 'timeout']).describe('`timeout`: the real-time apps answered after CALLHOOK_CURRI_TIMEOUT, so CUCM would get the `on_error` answer'), error: z.string().nullable() })
      .nullable()
      .describe("for a policy with a `curri:` block: the XML CUCM would receive"),
  })
  .meta({ id: 'CallTestReport' });

const pairs = z.array(z.tuple([z.string(), z.string()]));

export const policiesAnswer = z.object({
  source: z.string().describe('the policies file'),
  policies: z.array(
    z.object({
      id: z.string(),
      description: z.string().nullable(),
      match: z.record(z.string(), z.string()).nullable(),
      apps: z.array(
        z.object({
          name: z.string(),
          slug: z.string(),
          phase,
          order: z.number(),
          method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']),
          url: z.string(),
          auth: z.enum(['none', 'basic', 'bearer', 'oauth2']).describe('the auth type only, never a credential'),
          headers: pairs,
          query: pairs,
          timeout_ms: z.number(),
          retry_count: z.int(),
          retry_delay_ms: z.number(),
          when: z.string().nullable(),
          message: z.string().nullable(),
          on_failure: z.enum(['continue', 'stop']),
          delivery: z.object({
            body_format: z.enum(['json', 'form', 'text']),
            rate_limit: z.string().nullable().describe('`N/s`, `N/m` or `N/h`; null: no limit'),
            rate_limit_key: z.string().nullable(),
            circuit: z.object({ failures: z.int(), open_for_ms: z.number(), max_wait_ms: z.number() }).nullable().describe("null: the app ignores its destination's circuit"),
            retry_jitter: z.number(),
            signed: z.boolean().describe('whether requests are signed (never the secret)'),
            tls: z.boolean().describe('whether the app has its own TLS settings'),
          }),
        }),
      ),
    }),
  ),
  problems: z.array(z.string()).describe('what `config check` says of the file now'),
});

export const statsAnswer = z.object({
  queue: z.object({
    jobs: z.object({ waiting: z.int(), active: z.int(), delayed: z.int(), failed: z.int() }),
    workers: z
      .array(z.object({ name: z.string().describe('host:pid of the worker process'), idle_s: z.number() }))
      .nullable()
      .describe('worker connections on the queue; null when Redis will not list its clients (CLIENT disabled or renamed, as on Memorystore): unknown, not none'),
    finished_per_minute: z.array(z.object({ minute: time(), completed: z.int(), partial: z.int(), failed: z.int(), unmatched: z.int() })),
  }),
  circuits: z
    .array(
      z.object({
        destination: z.string().describe('scheme://host:port'),
        state: z.enum(['open', 'half_open']).describe('open: calls wait; half_open: one probe is let through'),
        failures: z.int().describe('consecutive failures counted'),
        open_until: time().describe('when the next probe may go'),
      }),
    )
    .describe('destinations whose circuit breaker is open or probing; any other is closed'),
});

export const healthAnswer = z.object({ status: z.literal('ok') });
export const readyAnswer = z.object({ status: z.literal('ready'), redis: z.literal('ok'), config: z.literal('loaded') });
export const notReadyAnswer = z.object({ status: z.literal('unavailable'), redis: z.string().describe('unreachable, refuses writes (out of memory), or evicts keys (maxmemory-policy allkeys-lru): set maxmemory-policy noeviction'), config: z.literal('loaded') });

const API_ERROR_CODES = ERROR_CODES.filter((code) => ERROR_CATALOGUE[code].status !== null);

/**
 * The API's error answer, one schema for every route and status (a generated client gets one
 * error type). The code is a string, not an enum: a client built from this document should
 * still read a code added later. Each response's description names the codes it answers.
 */
export const problemAnswer = z
  .object({
    error: z.object({
      code: z.string().describe(`a stable code (README, Error codes): ${API_ERROR_CODES.join(', ')}; each response names those of its route and status`),
      message: z.string().describe('what went wrong and what to do, for a person'),
      problems: z.array(z.string()).optional().describe('each problem, naming its field or parameter'),
    }),
  })
  .meta({ id: 'Problem', description: 'An error answer: `{"error": {"code", "message", "problems"?}}`' });

import { z } from 'zod';
import { LIMITS } from '../../defaults';
import { CALL_ID_PATTERN, eventSchema } from '../../events/schema';
import type { ApiErrorCode } from '../../errors';
import { callTestQuery, feedQuery, listQuery } from '../queries';
import * as answers from './schemas';

/** One route's documentation: what it takes (the zod schemas that validate it) and what it answers. */
export interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  params?: z.ZodType;
  querystring?: z.ZodType;
  /** The body: a zod schema (application/json), or one per content type. */
  body?: z.ZodType | { contentType: string; schema: z.ZodType };
  /** Answers other than errors: status → description and a schema per content type. */
  answers: Record<number, { description: string; content?: Record<string, z.ZodType> }>;
  /** The error codes this route answers with itself (see errors.ts); those every route shares are added. */
  errors?: ApiErrorCode[];
  /** It reads or writes Redis, so it answers 503 CALLHOOK_UNAVAILABLE while Redis is down or full. */
  redis?: boolean;
}

const json = (schema: z.ZodType) => ({ 'application/json': schema });
const text = z.string();
const callEvent = eventSchema.meta({ id: 'CallEvent', description: 'A completed call (README, Call events)' });
const callIdParams = z.object({ call_id: z.string().regex(CALL_ID_PATTERN).describe('the call id (an id that could not exist answers 404)') });
const bodyErrors: ApiErrorCode[] = ['CALLHOOK_BAD_REQUEST', 'CALLHOOK_EVENT_TOO_LARGE', 'CALLHOOK_UNSUPPORTED_MEDIA_TYPE'];

/**
 * Every route of the API, keyed `METHOD /path` as Fastify registers it. buildApi attaches each
 * one to its route as the route's `schema` (documentation only: validation stays the zod code in
 * the handlers); a test fails when a route has no entry here.
 */
export const OPERATIONS: Record<string, Operation> = {
  'POST /v1/calls': {
    operationId: 'sendCalls',
    summary: 'Queue one call or a batch',
    description: `One event, or an array of up to ${LIMITS.batchEvents} (at most 16 MiB). A batch is all or nothing: one invalid event, or one naming a policy that does not exist, and nothing is queued. Each call is queued once per call_id: a call_id queued before answers \`duplicate\`, so resending after a timeout or a 503 is safe (give every event its own call_id for that; one is generated when absent).`,
    tags: ['calls'],
    body: z.union([callEvent, z.array(callEvent).min(1).max(LIMITS.batchEvents)]),
    answers: { 202: { description: 'Queued (or duplicate), one entry per event', content: json(answers.enqueueAnswer) } },
    errors: ['CALLHOOK_EVENT_INVALID', 'CALLHOOK_POLICY_NOT_FOUND', ...bodyErrors],
    redis: true,
  },
  'GET /v1/calls': {
    operationId: 'listCalls',
    summary: 'List and search calls',
    description: 'Newest first by last change, a page at a time; the cursor stays valid while calls arrive.',
    tags: ['calls'],
    querystring: listQuery,
    answers: { 200: { description: 'One page of calls', content: json(answers.callList) } },
    errors: ['CALLHOOK_BAD_REQUEST'],
    redis: true,
  },
  'GET /v1/calls/:call_id': {
    operationId: 'getCall',
    summary: 'A call, its event and every app result',
    tags: ['calls'],
    params: callIdParams,
    answers: { 200: { description: 'The call', content: json(answers.callRecord) } },
    errors: ['CALLHOOK_CALL_NOT_FOUND'],
    redis: true,
  },
  'POST /v1/calls/:call_id/replay': {
    operationId: 'replayCall',
    summary: "Run a failed or partial call's failed apps again",
    description: 'Apps that succeeded are kept and not sent again; an unmatched call is matched anew. Of concurrent replays of one call exactly one is queued.',
    tags: ['calls'],
    params: callIdParams,
    answers: { 202: { description: 'Queued again', content: json(answers.replayAnswer) } },
    errors: ['CALLHOOK_CALL_NOT_FOUND', 'CALLHOOK_REPLAY_CONFLICT', ...bodyErrors],
    redis: true,
  },
  'GET /v1/results': {
    operationId: 'readResults',
    summary: 'The results feed: each call as it reaches a final status',
    description: 'Entries after `after` (`0`: the oldest kept); with `wait`, an empty answer waits that long for the next entry (long poll).',
    tags: ['results'],
    querystring: feedQuery,
    answers: { 200: { description: 'Entries, oldest first', content: json(answers.feedPage) } },
    errors: ['CALLHOOK_BAD_REQUEST'],
    redis: true,
  },
  'POST /v1/realtime': {
    operationId: 'runRealtime',
    summary: "Run an event's real-time apps now",
    description: 'The apps run inside the request and their results are stored with the call, for its post-call apps. Not idempotent: a resend sends the apps again.',
    tags: ['real-time'],
    body: callEvent,
    answers: { 200: { description: "The real-time apps' results", content: json(answers.realtimeAnswer) } },
    errors: ['CALLHOOK_EVENT_INVALID', 'CALLHOOK_POLICY_NOT_FOUND', ...bodyErrors],
    redis: true,
  },
  'POST /v1/call-test': {
    operationId: 'callTest',
    summary: 'Call Test: run a policy now and show each request and answer',
    description: 'Nothing is stored or queued; the apps are really sent (with a call-test-<uuid> call id). Secrets are shown as [REDACTED].',
    tags: ['real-time'],
    querystring: callTestQuery,
    body: answers.callTestRequest,
    answers: { 200: { description: 'The report', content: { 'application/json': answers.callTestReport, 'text/plain': text } } },
    errors: ['CALLHOOK_EVENT_INVALID', 'CALLHOOK_POLICY_NOT_FOUND', ...bodyErrors],
  },
  'GET /v1/policies': {
    operationId: 'getPolicies',
    summary: 'The loaded policies (no secret) and what config check says of the file now',
    tags: ['console'],
    answers: { 200: { description: 'The policies', content: json(answers.policiesAnswer) } },
  },
  'GET /v1/stats': {
    operationId: 'getStats',
    summary: 'The queue now: jobs by state, workers, calls finished per minute',
    tags: ['console'],
    answers: { 200: { description: 'Queue statistics', content: json(answers.statsAnswer) } },
    redis: true,
  },
  'POST /curri': {
    operationId: 'curri',
    summary: "CUCM External Call Control (CURRI): answer a call's routing request",
    description: 'CUCM sends an XACML request while it routes a call; the answer is always 200 text/xml (the policy\'s answer, or its `on_error` answer). The token is taken as `?api_key=` here, and only here: CUCM cannot send an Authorization header.',
    tags: ['cucm'],
    body: { contentType: 'text/xml', schema: text.describe('XACML request, at most 64 KiB (a larger one is answered continue, as unreadable)') },
    answers: { 200: { description: 'XACML response with a CIXML directive', content: { 'text/xml': text } } },
  },
  'HEAD /curri': {
    operationId: 'curriCheck',
    summary: "CUCM's check that the CURRI server is up",
    tags: ['cucm'],
    answers: { 200: { description: 'Up' } },
  },
  'GET /healthz': {
    operationId: 'healthz',
    summary: 'Liveness',
    tags: ['operations'],
    answers: { 200: { description: 'The process runs', content: json(answers.healthAnswer) } },
  },
  'GET /readyz': {
    operationId: 'readyz',
    summary: 'Readiness: Redis answers and takes a write, the config is loaded',
    tags: ['operations'],
    answers: {
      200: { description: 'Ready', content: json(answers.readyAnswer) },
      503: { description: 'Not ready', content: json(answers.notReadyAnswer) },
    },
  },
  'GET /metrics': {
    operationId: 'metrics',
    summary: 'Prometheus metrics (README, Metrics and logs)',
    tags: ['operations'],
    answers: { 200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': text } } },
    errors: ['CALLHOOK_NOT_FOUND'],
  },
  'GET /': {
    operationId: 'console',
    summary: 'The web console',
    tags: ['console'],
    answers: { 200: { description: 'Its page', content: { 'text/html': text } } },
  },
  'GET /console/:file': {
    operationId: 'consoleFile',
    summary: "The web console's static files",
    tags: ['console'],
    params: z.object({ file: z.string() }),
    answers: { 200: { description: 'A script, style sheet or source map' }, 404: { description: 'No such file', content: { 'text/plain': text } } },
  },
  'GET /openapi.json': {
    operationId: 'openapi',
    summary: 'This document (OpenAPI 3.1)',
    tags: ['operations'],
    answers: { 200: { description: 'The API description', content: json(z.record(z.string(), z.unknown())) } },
  },
  'GET /docs': {
    operationId: 'docs',
    summary: 'This document, rendered (Swagger UI)',
    description: 'A static page, served without the token like the console: it asks for the token (kept for the browser tab, as the console keeps it) and reads /openapi.json with it.',
    tags: ['operations'],
    answers: { 200: { description: 'Its page', content: { 'text/html': text } } },
  },
  'GET /docs/:file': {
    operationId: 'docsFile',
    summary: "The rendered docs' static files (Swagger UI)",
    tags: ['operations'],
    params: z.object({ file: z.string() }),
    answers: { 200: { description: 'A script or style sheet' }, 404: { description: 'No such file', content: { 'text/plain': text } } },
  },
};

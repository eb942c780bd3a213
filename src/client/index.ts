/**
 * `callhook/client`: the HTTP client alone. It uses Node's fetch and nothing else, so importing
 * it loads no Redis, BullMQ or Fastify (installing the package still installs them: the README
 * says how to copy these files instead; test/unit/layers.test.ts keeps the list true).
 */
export { CallhookApiError, CallhookClient, CallhookNetworkError, createClient } from './client';
export type { CallPage, CallTestInput, ClientOptions, FetchLike, ListCallsQuery, ReplayAnswer, ResultEntry, ResultsOptions, WaitDuration } from './client';
export { decideRetry, retryAfterMs } from './retry';
export type { AttemptOutcome, RetryDecision, RetryRules } from './retry';
export type * from './types';

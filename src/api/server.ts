import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { formatCallTest } from '../call-test/format';
import { parseCallTest, runCallTest } from '../call-test/run';
import { parseEvent, parseEvents } from '../events/schema';
import type { Metrics } from '../metrics/metrics';
import type { CallhookConfig, Policy } from '../policies/types';
import { runRealtime } from '../pipeline/realtime';
import type { CallProducer } from '../queue/producer';
import type { Replayer } from '../queue/replay';
import type { CallRecord, CallStore } from '../store/call-store';
import type { SendDeps } from '../webhook/send';

export interface ApiDeps {
  config: CallhookConfig;
  send: SendDeps;
  producer: CallProducer;
  store: CallStore;
  replayer: Replayer;
  logger: Logger;
  /** When set, every /v1 route needs `Authorization: Bearer <token>`. */
  apiToken?: string | undefined;
  /** Readiness: resolves when Redis answers. */
  ping(): Promise<unknown>;
  metrics?: Metrics;
}

/** Batches are bounded by this many events (each event is limited to 256 KiB on its own). */
export const MAX_BATCH = 1000;
/** A request body is at most this big, so one request cannot exhaust the API's memory. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** Results in the order their apps run (real-time first), then any the policy no longer has. */
function inRunOrder(appData: CallRecord['app_data'], policy: Policy | undefined): CallRecord['app_data'] {
  if (!policy) return appData;
  const order = [...policy.apps.filter((a) => a.phase === 'real_time'), ...policy.apps.filter((a) => a.phase === 'post_call')].map((a) => a.slug);
  const known = order.filter((slug) => slug in appData);
  const rest = Object.keys(appData).filter((slug) => !order.includes(slug));
  return Object.fromEntries([...known, ...rest].map((slug) => [slug, appData[slug]!]));
}

/** Liveness, readiness and metrics: served by the API, and by a worker on CALLHOOK_METRICS_PORT. */
export function registerOpsRoutes(app: FastifyInstance, deps: { ping(): Promise<unknown>; metrics?: Metrics | undefined }): void {
  app.get('/metrics', async (_request, reply) => {
    if (!deps.metrics) return problem(reply, 404, 'CALLHOOK_NOT_FOUND', 'metrics are not enabled');
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.text());
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await deps.ping();
      return { status: 'ready', redis: 'ok', config: 'loaded' };
    } catch {
      return reply.code(503).send({ status: 'unavailable', redis: 'unreachable', config: 'loaded' });
    }
  });
}

export function problem(reply: FastifyReply, status: number, code: string, message: string, problems?: string[]) {
  return reply.code(status).send({ error: { code, message, ...(problems ? { problems } : {}) } });
}

export function buildApi(deps: ApiDeps) {
  const app = Fastify({
    // Per-request access logs would double the log volume of a busy ingest; errors still log.
    loggerInstance: deps.logger.child({ component: 'api' }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: MAX_BODY_BYTES,
  });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 500) deps.logger.error({ err: error }, 'request failed');
    const code = status === 413 ? 'CALLHOOK_EVENT_TOO_LARGE' : status < 500 ? 'CALLHOOK_BAD_REQUEST' : 'CALLHOOK_INTERNAL';
    return problem(reply, status, code, status >= 500 ? 'internal error' : error.message);
  });

  if (deps.apiToken) {
    const expected = Buffer.from(`Bearer ${deps.apiToken}`);
    app.addHook('onRequest', async (request, reply) => {
      if (!request.url.startsWith('/v1/')) return;
      const given = Buffer.from(request.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return problem(reply, 401, 'CALLHOOK_UNAUTHORIZED', 'missing or wrong API token (Authorization: Bearer <CALLHOOK_API_TOKEN>)');
      }
    });
  }

  app.post('/v1/calls', async (request, reply) => {
    if (Array.isArray(request.body) && request.body.length > MAX_BATCH) {
      return problem(reply, 400, 'CALLHOOK_EVENT_INVALID', `a batch holds at most ${MAX_BATCH} events`);
    }
    const parsed = parseEvents(request.body);
    if (!parsed.ok) return problem(reply, 400, 'CALLHOOK_EVENT_INVALID', 'invalid call event; nothing was queued', parsed.problems);
    const calls = await deps.producer.enqueue(parsed.events);
    return reply.code(202).send({ calls });
  });

  app.get<{ Params: { call_id: string } }>('/v1/calls/:call_id', async (request, reply) => {
    const record = await deps.store.get(request.params.call_id);
    if (!record) return problem(reply, 404, 'CALLHOOK_CALL_NOT_FOUND', `no call ${request.params.call_id}`);
    return { ...record, app_data: inRunOrder(record.app_data, record.policy ? deps.config.byId.get(record.policy) : undefined) };
  });

  app.post<{ Params: { call_id: string } }>('/v1/calls/:call_id/replay', async (request, reply) => {
    const outcome = await deps.replayer.replay(request.params.call_id);
    if (!outcome.ok) {
      return problem(reply, outcome.status, outcome.status === 404 ? 'CALLHOOK_CALL_NOT_FOUND' : 'CALLHOOK_REPLAY_CONFLICT', outcome.message);
    }
    return reply.code(202).send({ call_id: outcome.call_id, status: outcome.status, replayed: outcome.replayed });
  });

  app.post('/v1/realtime', async (request, reply) => {
    const check = parseEvent(request.body);
    if (!check.ok) return problem(reply, 400, 'CALLHOOK_EVENT_INVALID', 'invalid call event', check.problems);
    const { event } = check;
    if (event.policy !== undefined && !deps.config.byId.has(event.policy)) {
      return problem(reply, 404, 'CALLHOOK_POLICY_NOT_FOUND', `no policy "${event.policy}"`);
    }
    return runRealtime(deps.config, event, { ...deps.send, observer: deps.metrics }, deps.store);
  });

  app.post<{ Querystring: { format?: string } }>('/v1/call-test', async (request, reply) => {
    const input = parseCallTest(deps.config, request.body);
    if (!input.ok) return problem(reply, input.status, input.code, input.problems.join('; '), input.problems);
    const report = await runCallTest(deps.config, input, deps.send);
    if (request.query.format === 'text') return reply.type('text/plain; charset=utf-8').send(formatCallTest(report));
    return report;
  });

  registerOpsRoutes(app, deps);
  return app;
}

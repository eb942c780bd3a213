import type { Queue } from 'bullmq';
import Fastify, { type FastifyBaseLogger, type FastifyError } from 'fastify';
import type { Logger } from 'pino';
import { LIMITS, SERVER_TIMEOUTS } from '../defaults';
import type { Metrics } from '../metrics/metrics';
import type { CurriDeps } from '../curri/handler';
import type { CallhookConfig } from '../policies/types';
import type { CallJobData } from '../queue/calls-queue';
import type { CallProducer } from '../queue/producer';
import type { Replayer } from '../queue/replay';
import type { CallIndex } from '../store/call-index';
import type { CallStore, RedisClient } from '../store/call-store';
import type { ResultsFeed } from '../store/results-feed';
import { isRedisUnavailable } from '../store/redis-errors';
import type { Redactor } from '../util/redact';
import type { Sender } from '../webhook/send';
import { answerClientError } from './client-errors';
import { registerGuard } from './guard';
import { registerRedisGate } from './redis-gate';
import { BadJsonBodyError, registerJsonBody } from './json-body';
import { registerOversizedBody } from './oversized-body';
import { documentRoutes } from './openapi/register';
import { answerUnroutable } from './unroutable';
import { problem } from './problem';
import { registerCallRoutes } from './routes/calls';
import { registerConsoleRoutes } from './routes/console';
import { registerCurriRoutes } from './routes/curri';
import { registerDocsRoutes } from './routes/docs';
import { registerOpsRoutes } from './routes/ops';
import { registerOverviewRoutes } from './routes/overview';
import { registerResultRoutes } from './routes/results';
import { registerRunNowRoutes } from './routes/run-now';
import type { DeliveryGate } from '../pipeline/gate';

export interface ApiDeps {
  config: CallhookConfig;
  sender: Sender;
  redactor: Redactor;
  /** Circuit breakers for real-time apps (they are refused while their destination fails). */
  gate?: DeliveryGate | undefined;
  producer: CallProducer;
  store: CallStore;
  index: CallIndex;
  feed: ResultsFeed;
  replayer: Replayer;
  logger: Logger;
  /** When set, every route but the public ones needs `Authorization: Bearer <token>`. */
  apiToken?: string | undefined;
  /** Whether a Redis connection is down (reconnecting): routes that need Redis answer 503 at once. */
  redisDown?: () => boolean;
  /** Readiness: resolves when Redis answers and accepts a write. */
  ready(): Promise<unknown>;
  metrics?: Metrics;
  queue: Queue<CallJobData>;
  /** The Redis the store uses (reads for the Queue screen's statistics). */
  redis: RedisClient;
  prefix: string;
  /** Re-reads the policies file: the problems `config check` would print now. */
  checkConfig?: (() => string[]) | undefined;
  /** CURRI: answers CUCM's External Call Control requests. */
  curri: CurriDeps;
  /** Server timeouts; tests shorten them. @defaultValue SERVER_TIMEOUTS */
  timeouts?: Partial<typeof SERVER_TIMEOUTS>;
}

export function buildApi(deps: ApiDeps) {
  const timeouts = { ...SERVER_TIMEOUTS, ...deps.timeouts };
  const app = Fastify({
    // Per-request access logs would double the log volume of a busy ingest; errors still log.
    loggerInstance: deps.logger.child({ component: 'api' }, { level: 'warn' }) as FastifyBaseLogger,
    // No child logger per request (its redaction setup showed in CURRI profiles): callhook's own
    // warnings name the call, and nothing logs through request.log.
    childLoggerFactory: (logger) => logger,
    bodyLimit: LIMITS.singleBodyBytes,
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    // Node checks the header and request timeouts on this interval (30 s by default).
    http: { headersTimeout: timeouts.headersMs, connectionsCheckingInterval: Math.min(1000, timeouts.headersMs) },
    // Call ids are up to 200 characters; the router's default of 100 refused longer ones.
    routerOptions: { maxParamLength: 1024 },
    // What Node's parser refuses (not HTTP, headers too large, too slow) answers in callhook's format.
    clientErrorHandler: answerClientError(timeouts),
    // A path the router cannot match (bad URL encoding, an over-long segment): the token first, then 404.
    frameworkErrors: answerUnroutable(deps.apiToken),
  });

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    if (isRedisUnavailable(error)) {
      deps.logger.warn({ err: error.message }, 'redis refused a request; answering 503');
      return problem(reply, 'CALLHOOK_UNAVAILABLE', `Redis is unavailable (${error.message.split('\n')[0]}); nothing was changed, retry later`);
    }
    if (error instanceof BadJsonBodyError) return problem(reply, 'CALLHOOK_BAD_REQUEST', error.message);
    const status = error.statusCode ?? 500;
    if (status === 413) return problem(reply, 'CALLHOOK_EVENT_TOO_LARGE', error.message);
    if (status === 415) return problem(reply, 'CALLHOOK_UNSUPPORTED_MEDIA_TYPE', error.message);
    if (status < 500) return problem(reply, 'CALLHOOK_BAD_REQUEST', error.message);
    deps.logger.error({ err: error }, 'request failed');
    return problem(reply, 'CALLHOOK_INTERNAL', 'internal error');
  });
  app.setNotFoundHandler((request, reply) => problem(reply, 'CALLHOOK_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));

  // Before any route, so every route gets its documentation and is in the document.
  const openapi = documentRoutes(app);
  if (deps.redisDown) registerRedisGate(app, deps.redisDown);
  registerGuard(app, deps.apiToken);
  registerOversizedBody(app, LIMITS.discardBodyBytes);
  registerJsonBody(app);
  registerCallRoutes(app, deps);
  registerRunNowRoutes(app, deps);
  registerResultRoutes(app, deps);
  registerOverviewRoutes(app, deps);
  registerConsoleRoutes(app);
  registerCurriRoutes(app, deps);
  registerOpsRoutes(app, deps);
  registerDocsRoutes(app, openapi.document);
  return app;
}

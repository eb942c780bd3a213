import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../metrics/metrics';
import { RedisEvictsKeysError } from '../../store/eviction';
import { problem } from '../problem';

export interface OpsDeps {
  /** Resolves when Redis answers and accepts a write, and does not evict keys; rejects otherwise. */
  ready(): Promise<unknown>;
  metrics?: Metrics | undefined;
}

/** How long readiness waits for Redis before saying it is not ready. */
const READY_TIMEOUT_MS = 2000;

/** Liveness, readiness and metrics: served by the API, and by a worker or the CDR ingester on CALLHOOK_METRICS_PORT. Public. */
export function registerOpsRoutes(app: FastifyInstance, deps: OpsDeps): void {
  const config = { public: true };
  app.get('/metrics', { config }, async (_request, reply) => {
    if (!deps.metrics) return problem(reply, 'CALLHOOK_NOT_FOUND', 'metrics are not enabled');
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.text());
  });
  app.get('/healthz', { config }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config }, async (_request, reply) => {
    try {
      await withTimeout(deps.ready(), READY_TIMEOUT_MS);
      return { status: 'ready', redis: 'ok', config: 'loaded' };
    } catch (error) {
      return reply.code(503).send({ status: 'unavailable', redis: notReadyDetail(error as Error), config: 'loaded' });
    }
  });
}

/** What /readyz says of Redis when it is not ready. */
function notReadyDetail(error: Error): string {
  if (error instanceof RedisEvictsKeysError) return error.detail;
  return /^OOM/.test(error.message) ? 'refuses writes (out of memory)' : 'unreachable';
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

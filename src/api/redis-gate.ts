import type { FastifyInstance } from 'fastify';
import { OPERATIONS } from './openapi/operations';
import { problem } from './problem';

/**
 * While a Redis connection is down, ioredis holds a request's commands until it is back, and
 * runs them then, though the client gave up long before: the API hung, and a call the client
 * thought refused was queued later. A route that needs Redis (`redis: true` in its operation)
 * answers 503 at once instead, having changed nothing. Register before the routes.
 */
export function registerRedisGate(app: FastifyInstance, redisDown: () => boolean): void {
  app.addHook('onRoute', (route) => {
    // Fastify answers HEAD with the GET route's handler.
    if (![route.method].flat().some((method) => OPERATIONS[`${method === 'HEAD' ? 'GET' : method} ${route.url}`]?.redis)) return;
    // The handler itself checks (a plain call on the real-time path, no preHandler hook to run).
    const handler = route.handler;
    route.handler = function gated(this: FastifyInstance, request, reply) {
      if (!redisDown()) return handler.call(this, request, reply);
      return problem(reply, 'CALLHOOK_UNAVAILABLE', 'Redis is unavailable (connection down); nothing was changed, retry later');
    };
  });
}

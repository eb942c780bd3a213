import type { FastifyInstance } from 'fastify';
import type { CallhookConfig } from '../../policies/types';
import { presentCall } from '../../pipeline/run-order';
import type { ResultsFeed } from '../../store/results-feed';
import { problem } from '../problem';
import { feedQuery, parseQuery } from '../queries';

export interface ResultsDeps {
  config: CallhookConfig;
  feed: ResultsFeed;
}

/**
 * `GET /v1/results?after=&limit=&wait=`: the results feed from a position, each entry the whole
 * call as `GET /v1/calls/:id` showed it when it reached that final status. With `wait`, a request
 * with nothing new waits up to that long (at most 60 s) for the next entry.
 */
export function registerResultRoutes(app: FastifyInstance, deps: ResultsDeps): void {
  app.get('/v1/results', async (request, reply) => {
    const query = parseQuery(feedQuery, request.query);
    if (!query.ok) return problem(reply, 'CALLHOOK_BAD_REQUEST', 'invalid results query', query.problems);
    const { after, limit, wait } = query.value;
    // A client that goes away ends its wait.
    const gone = wait > 0 ? new AbortController() : undefined;
    if (gone) reply.raw.once('close', () => gone.abort());
    const entries = await deps.feed.read(after, limit, { ms: wait, signal: gone?.signal });
    return {
      entries: entries.map((entry) => ({ id: entry.id, call: presentCall(entry.call, deps.config.byId) })),
      next_after: entries.at(-1)?.id ?? after,
    };
  });
}

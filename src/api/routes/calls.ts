import type { FastifyInstance } from 'fastify';
import { LIMITS } from '../../defaults';
import { CALL_ID_PATTERN, checkCalls } from '../../events/schema';
import type { CallhookConfig } from '../../policies/types';
import type { CallProducer } from '../../queue/producer';
import type { Replayer } from '../../queue/replay';
import { presentCall } from '../../pipeline/run-order';
import type { CallIndex } from '../../store/call-index';
import type { CallStore } from '../../store/call-store';
import { problem } from '../problem';
import { listCalls, listQuery, parseQuery } from '../queries';

export interface CallsDeps {
  config: CallhookConfig;
  producer: CallProducer;
  store: CallStore;
  index: CallIndex;
  replayer: Replayer;
}

type WithCallId = { Params: { call_id: string } };

/** `POST /v1/calls`, `GET /v1/calls` (list and search), `GET /v1/calls/:call_id`, `POST /v1/calls/:call_id/replay`. */
export function registerCallRoutes(app: FastifyInstance, deps: CallsDeps): void {
  app.post('/v1/calls', { bodyLimit: LIMITS.batchBodyBytes }, async (request, reply) => {
    const check = checkCalls(request.body, deps.config.byId);
    if (!check.ok) return problem(reply, check.code, check.message, check.problems);
    const calls = await deps.producer.enqueue(check.events);
    return reply.code(202).send({ calls });
  });

  app.get('/v1/calls', async (request, reply) => {
    const query = parseQuery(listQuery, request.query);
    if (!query.ok) return problem(reply, 'CALLHOOK_BAD_REQUEST', 'invalid list query', query.problems);
    return listCalls(deps.index, deps.config.byId, query.value);
  });

  app.get<WithCallId>('/v1/calls/:call_id', async (request, reply) => {
    const callId = request.params.call_id;
    const record = CALL_ID_PATTERN.test(callId) ? await deps.store.get(callId) : undefined;
    if (!record) return problem(reply, 'CALLHOOK_CALL_NOT_FOUND', `no call ${callId}`);
    return presentCall(record, deps.config.byId);
  });

  app.post<WithCallId>('/v1/calls/:call_id/replay', async (request, reply) => {
    const callId = request.params.call_id;
    if (!CALL_ID_PATTERN.test(callId)) return problem(reply, 'CALLHOOK_CALL_NOT_FOUND', `no call ${callId}`);
    const outcome = await deps.replayer.replay(callId);
    if (!outcome.ok) return problem(reply, outcome.status === 404 ? 'CALLHOOK_CALL_NOT_FOUND' : 'CALLHOOK_REPLAY_CONFLICT', outcome.message);
    return reply.code(202).send({ call_id: outcome.call_id, status: outcome.status, replayed: outcome.replayed });
  });
}

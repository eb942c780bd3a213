import type { FastifyInstance } from 'fastify';
import { LIMITS } from '../../defaults';
import { CALL_ID_PATTERN, parseEvents } from '../../events/schema';
import type { CallhookConfig, Policy } from '../../policies/types';
import type { CallProducer } from '../../queue/producer';
import type { Replayer } from '../../queue/replay';
import type { CallRecord } from '../../model/call';
import type { CallStore } from '../../store/call-store';
import { problem } from '../problem';

export interface CallsDeps {
  config: CallhookConfig;
  producer: CallProducer;
  store: CallStore;
  replayer: Replayer;
}

type WithCallId = { Params: { call_id: string } };

/** `POST /v1/calls`, `GET /v1/calls/:call_id`, `POST /v1/calls/:call_id/replay`. */
export function registerCallRoutes(app: FastifyInstance, deps: CallsDeps): void {
  app.post('/v1/calls', { bodyLimit: LIMITS.batchBodyBytes }, async (request, reply) => {
    if (Array.isArray(request.body) && request.body.length > LIMITS.batchEvents) {
      return problem(reply, 'CALLHOOK_EVENT_INVALID', `a batch holds at most ${LIMITS.batchEvents} events`);
    }
    const parsed = parseEvents(request.body);
    if (!parsed.ok) return problem(reply, 'CALLHOOK_EVENT_INVALID', 'invalid call event; nothing was queued', parsed.problems);
    const calls = await deps.producer.enqueue(parsed.events);
    return reply.code(202).send({ calls });
  });

  app.get<WithCallId>('/v1/calls/:call_id', async (request, reply) => {
    const callId = request.params.call_id;
    const record = CALL_ID_PATTERN.test(callId) ? await deps.store.get(callId) : undefined;
    if (!record) return problem(reply, 'CALLHOOK_CALL_NOT_FOUND', `no call ${callId}`);
    return { ...record, app_data: inRunOrder(record.app_data, record.policy ? deps.config.byId.get(record.policy) : undefined) };
  });

  app.post<WithCallId>('/v1/calls/:call_id/replay', async (request, reply) => {
    const callId = request.params.call_id;
    if (!CALL_ID_PATTERN.test(callId)) return problem(reply, 'CALLHOOK_CALL_NOT_FOUND', `no call ${callId}`);
    const outcome = await deps.replayer.replay(callId);
    if (!outcome.ok) return problem(reply, outcome.status === 404 ? 'CALLHOOK_CALL_NOT_FOUND' : 'CALLHOOK_REPLAY_CONFLICT', outcome.message);
    return reply.code(202).send({ call_id: outcome.call_id, status: outcome.status, replayed: outcome.replayed });
  });
}

/** Results in the order their apps run (real-time first), then any the policy no longer has. */
function inRunOrder(appData: CallRecord['app_data'], policy: Policy | undefined): CallRecord['app_data'] {
  if (!policy) return appData;
  const order = [...policy.apps.filter((a) => a.phase === 'real_time'), ...policy.apps.filter((a) => a.phase === 'post_call')].map((a) => a.slug);
  const known = order.filter((slug) => slug in appData);
  const rest = Object.keys(appData).filter((slug) => !order.includes(slug));
  return Object.fromEntries([...known, ...rest].map((slug) => [slug, appData[slug]!]));
}

import type { FastifyInstance } from 'fastify';
import { formatCallTest } from '../../call-test/format';
import type { CurriDeps } from '../../curri/handler';
import { parseCallTest, runCallTest } from '../../call-test/run';
import { LIMITS } from '../../defaults';
import { parseEvent } from '../../events/schema';
import type { Metrics } from '../../metrics/metrics';
import type { CallhookConfig } from '../../policies/types';
import type { DeliveryGate } from '../../pipeline/gate';
import { runRealtime } from '../../pipeline/realtime';
import type { CallStore } from '../../store/call-store';
import type { Redactor } from '../../util/redact';
import type { Sender } from '../../webhook/send';
import { problem } from '../problem';
import { callTestQuery, parseQuery } from '../queries';

export interface RunNowDeps {
  config: CallhookConfig;
  sender: Sender;
  redactor: Redactor;
  store: CallStore;
  metrics?: Metrics | undefined;
  /** Circuit breakers: a real-time app whose destination is failing is not sent. */
  gate?: DeliveryGate | undefined;
  /** CURRI's deadline: Call Test shows the answer /curri would give within it. */
  curri?: Pick<CurriDeps, 'timeoutMs'> | undefined;
}

/** `POST /v1/realtime` and `POST /v1/call-test`: apps run inside the request. One event each. */
export function registerRunNowRoutes(app: FastifyInstance, deps: RunNowDeps): void {
  const single = { bodyLimit: LIMITS.singleBodyBytes };

  app.post('/v1/realtime', single, async (request, reply) => {
    const check = parseEvent(request.body);
    if (!check.ok) return problem(reply, 'CALLHOOK_EVENT_INVALID', 'invalid call event', check.problems);
    const { event } = check;
    if (event.policy !== undefined && !deps.config.byId.has(event.policy)) {
      return problem(reply, 'CALLHOOK_POLICY_NOT_FOUND', `no policy "${event.policy}"`);
    }
    return runRealtime(deps.config, event, { sender: deps.sender, redactor: deps.redactor, observer: deps.metrics?.realTime, gate: deps.gate }, deps.store);
  });

  app.post('/v1/call-test', single, async (request, reply) => {
    // Checked before anything runs: the apps are really sent, and a misspelt format must not answer JSON silently.
    const query = parseQuery(callTestQuery, request.query);
    if (!query.ok) return problem(reply, 'CALLHOOK_BAD_REQUEST', 'invalid query; nothing was sent', query.problems);
    const input = parseCallTest(deps.config, request.body);
    if (!input.ok) return problem(reply, input.code, input.problems.join('; '), input.problems);
    const report = await runCallTest(input, { sender: deps.sender, redactor: deps.redactor }, { curriTimeoutMs: deps.curri?.timeoutMs });
    if (query.value.format === 'text') return reply.type('text/plain; charset=utf-8').send(formatCallTest(report));
    return report;
  });
}

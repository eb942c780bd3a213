import type { z } from 'zod';
import type * as answers from '../../src/api/openapi/schemas';
import type { CallPage, ReplayAnswer } from '../../src/client';
import type { AppResult, CallRecord, CallRow, CallTestReport, EnqueueResult, PolicyView, QueueStats, RealtimeAnswer } from '../../src/client/types';

/**
 * The types the server builds its answers from (and the HTTP client returns) and the answer
 * schemas the OpenAPI document is made of describe the same JSON: each pair must be assignable
 * both ways, checked by the compiler (`npm run typecheck`).
 */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** One way: every value of the server's type is a valid answer (the type says more than the wire shows). */
type Conforms<Server, Schema> = [Server] extends [Schema] ? true : false;
type Out<S extends z.ZodType> = z.output<S>;

const checks: {
  appResult: Same<Out<typeof answers.appResult>, AppResult>;
  callRecord: Same<Out<typeof answers.callRecord>, CallRecord>;
  callRow: Same<Out<typeof answers.callRow>, CallRow>;
  callList: Same<Out<typeof answers.callList>, CallPage>;
  enqueue: Same<Out<typeof answers.enqueueResult>, EnqueueResult>;
  replay: Same<Out<typeof answers.replayAnswer>, ReplayAnswer>;
  realtime: Same<Out<typeof answers.realtimeAnswer>, RealtimeAnswer>;
  // A request without a body has `body: undefined`, which JSON leaves out: optional on the wire.
  callTest: Conforms<CallTestReport, Out<typeof answers.callTestReport>>;
  policies: Same<Out<typeof answers.policiesAnswer>['policies'][number], PolicyView>;
  stats: Same<Out<typeof answers.statsAnswer>['queue'], QueueStats>;
} = { appResult: true, callRecord: true, callRow: true, callList: true, enqueue: true, replay: true, realtime: true, callTest: true, policies: true, stats: true };

it('the answer types and the answer schemas agree (checked when compiling)', () => {
  expect(Object.values(checks).every(Boolean)).toBe(true);
});

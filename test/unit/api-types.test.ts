import type { z } from 'zod';
import type * as answers from '../../src/api/openapi/schemas';
import type { CallPage, ReplayAnswer } from '../../src/client';
import type { AppResult, CallRecord, CallRow, CallTestReport, EnqueueResult, PoliciesAnswer, RealtimeAnswer, StatsAnswer } from '../../src/client/types';
import type * as client from '../../src/client/types';
import type { CallTestAppReport as ServerCallTestAppReport, CallTestReport as ServerCallTestReport } from '../../src/call-test/run';
import type { ErrorCode } from '../../src/errors';
import type * as server from '../../src/model/call';
import type { RealtimeAnswer as ServerRealtimeAnswer } from '../../src/pipeline/realtime';
import type { CircuitView as ServerCircuitView } from '../../src/delivery/gate';
import type { AppView as ServerAppView, DeliveryView as ServerDeliveryView, PolicyView as ServerPolicyView } from '../../src/policies/describe';
import type { EnqueueResult as ServerEnqueueResult } from '../../src/queue/producer';
import type { QueueStats as ServerQueueStats } from '../../src/queue/stats';
import type { CallRow as ServerCallRow } from '../../src/store/call-index';

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
  policies: Same<Out<typeof answers.policiesAnswer>, PoliciesAnswer>;
  stats: Same<Out<typeof answers.statsAnswer>, StatsAnswer>;
} = { appResult: true, callRecord: true, callRow: true, callList: true, enqueue: true, replay: true, realtime: true, callTest: true, policies: true, stats: true };

it('the answer types and the answer schemas agree (checked when compiling)', () => {
  expect(Object.values(checks).every(Boolean)).toBe(true);
});

/** The same type, not only assignable both ways: an optional field one side lacks is a difference. */
type Identical<A, B> = (<G>() => G extends A ? 1 : 2) extends <G>() => G extends B ? 1 : 2 ? true : false;

// The client's declarations import nothing of the server's (its .d.ts must not load BullMQ, zod...), so they are checked here against the server's own.
const mirrors: {
  errorCode: Identical<client.ErrorCode, ErrorCode>;
  callStatus: Identical<client.CallStatus, server.CallStatus>;
  appStatus: Identical<client.AppStatus, server.AppStatus>;
  appError: Identical<client.AppError, server.AppError>;
  attemptLogEntry: Identical<client.AttemptLogEntry, server.AttemptLogEntry>;
  requestSummary: Identical<client.RequestSummary, server.RequestSummary>;
  appResult: Identical<client.AppResult, server.AppResult>;
  callEvent: Identical<client.CallEvent, server.CallEvent>;
  callRecord: Identical<client.CallRecord, server.CallRecord>;
  callRow: Identical<client.CallRow, ServerCallRow>;
  enqueueResult: Identical<client.EnqueueResult, ServerEnqueueResult>;
  queueStats: Identical<client.QueueStats, ServerQueueStats>;
  circuitView: Identical<client.CircuitView, ServerCircuitView>;
  realtimeAnswer: Identical<client.RealtimeAnswer, ServerRealtimeAnswer>;
  callTestAppReport: Identical<client.CallTestAppReport, ServerCallTestAppReport>;
  callTestReport: Identical<client.CallTestReport, ServerCallTestReport>;
  policyView: Identical<client.PolicyView, ServerPolicyView>;
  appView: Identical<client.AppView, ServerAppView>;
  deliveryView: Identical<client.DeliveryView, ServerDeliveryView>;
} = {
  errorCode: true, callStatus: true, appStatus: true, appError: true, attemptLogEntry: true, requestSummary: true, appResult: true, callEvent: true, callRecord: true,
  callRow: true, enqueueResult: true, queueStats: true, circuitView: true, realtimeAnswer: true, callTestAppReport: true, callTestReport: true, policyView: true, appView: true, deliveryView: true,
};

it("the client's answer types are the server's (checked when compiling)", () => {
  expect(Object.values(mirrors).every(Boolean)).toBe(true);
});

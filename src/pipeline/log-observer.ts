import type { Logger } from 'pino';
import type { PipelineObserver } from './observer';

/**
 * Logs each call's outcome (info), each failed app (warn) and each other app result (debug),
 * with call_id, policy and app on every line. One info line per call keeps logging cheap.
 */
export function logObserver(logger: Logger): PipelineObserver {
  return {
    attempt: () => undefined,
    result(context, result) {
      const log = logger.child({ call_id: context.callId, policy: context.policy, app: context.app });
      const fields = { status: result.status, http_status: result.http_status, attempts: result.attempts, duration_ms: result.duration_ms };
      if (result.status === 'failed') log.warn({ ...fields, error: result.error }, 'app failed');
      else log.debug(fields, `app ${result.status}`);
    },
    callFinished(callId, policy, status) {
      logger.child({ call_id: callId, policy }).info({ status }, 'call finished');
    },
  };
}

import type { Logger } from 'pino';
import type { PipelineObserver } from './observer';

/**
 * Logs through a child logger per call and app (`call_id`, `policy`, `app` on every line):
 * failed apps and calls that did not complete at warn, unmatched calls at info, everything
 * else at debug. A child is made only when its line will be written: at the default level a
 * call that completes costs no logging at all.
 */
export function logObserver(logger: Logger): PipelineObserver {
  return {
    attempt: () => undefined,
    result(context, result) {
      const level = result.status === 'failed' ? 'warn' : 'debug';
      if (!logger.isLevelEnabled(level)) return;
      const log = logger.child({ call_id: context.callId, policy: context.policy, app: context.app });
      const fields = { status: result.status, http_status: result.http_status, attempts: result.attempts, duration_ms: result.duration_ms };
      if (level === 'warn') log.warn({ ...fields, error: result.error }, 'app failed');
      else log.debug(fields, `app ${result.status}`);
    },
    callFinished(callId, policy, status) {
      const level = status === 'completed' ? 'debug' : status === 'unmatched' ? 'info' : 'warn';
      if (logger.isLevelEnabled(level)) logger.child({ call_id: callId, policy })[level]({ status }, 'call finished');
    },
  };
}

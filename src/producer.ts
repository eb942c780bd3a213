import { CallhookError } from './errors';
import { checkCalls } from './events/schema';
import { createCallsQueue } from './queue/calls-queue';
import { CallProducer, type EnqueueResult } from './queue/producer';
import { connectRedis } from './runtime';
import { parseSettings } from './settings';
import { CallStore } from './store/call-store';
import type { CallEventInput } from './client/types';

export interface ProducerOptions {
  /** The workers' Redis (`REDIS_URL`); several comma-separated seed nodes for a cluster. @defaultValue 'redis://127.0.0.1:6379' */
  redisUrl?: string | undefined;
  /** The workers' `CALLHOOK_PREFIX`: calls under another prefix are never run. @defaultValue 'callhook' */
  prefix?: string | undefined;
  /** The workers' `CALLHOOK_RESULT_TTL`: how long call records are kept once final (`7d`, or ms). @defaultValue '7d' */
  resultTtl?: string | number | undefined;
  /** Told about Redis connection errors (the connection retries by itself). @defaultValue ignore them */
  onRedisError?: ((error: Error) => void) | undefined;
  /**
   * The ids of the workers' policies (those of their `CALLHOOK_CONFIG`): an event naming any other
   * is refused, as `POST /v1/calls` refuses it (CallhookEventError `CALLHOOK_POLICY_NOT_FOUND`).
   * Without them the producer cannot tell, and such a call is queued and ends `unmatched`.
   * @defaultValue no policy check
   */
  policies?: Iterable<string> | undefined;
}

/** Queues calls straight into callhook's Redis, as the API and the CDR ingester do. */
export interface Producer {
  /**
   * Validates and queues one call. A call_id queued before (by the API, the CDR ingester or
   * any producer) is answered `duplicate` and not queued again: resending is always safe. A
   * call without call_id gets a UUID (then a resend is a new call).
   * @throws CallhookEventError with `problems` when the event is invalid, or names a policy not in `policies` (nothing is queued).
   */
  send(event: CallEventInput): Promise<EnqueueResult>;
  /** Validates a batch (at most 1000 events), then queues it in one round trip; one invalid event and none is queued. */
  sendBatch(events: readonly CallEventInput[]): Promise<EnqueueResult[]>;
  /** Closes the Redis connection (let pending sends settle first). */
  close(): Promise<void>;
}

/**
 * Events the producer refused, each problem naming its field (`[2].called_number: is required`),
 * with the code the API answers: `CALLHOOK_EVENT_INVALID` (its 400) or `CALLHOOK_POLICY_NOT_FOUND` (its 404).
 */
export class CallhookEventError extends CallhookError {
  override name = 'CallhookEventError';
  constructor(
    readonly problems: string[],
    code: 'CALLHOOK_EVENT_INVALID' | 'CALLHOOK_POLICY_NOT_FOUND' = 'CALLHOOK_EVENT_INVALID',
  ) {
    const what = code === 'CALLHOOK_POLICY_NOT_FOUND' ? 'an event names a policy that does not exist' : 'invalid call event';
    super(code, `${what}; nothing was queued:\n  ${problems.join('\n  ')}`);
  }
}

/**
 * The in-process producer, for code that shares callhook's Redis: the same validation (the
 * policy an event names only given `policies`), idempotency and queue as `POST /v1/calls`,
 * without an HTTP hop. While Redis is unreachable, a
 * send waits for it to come back (as BullMQ's own Queue.add does).
 * @throws SettingsError when the prefix or TTL is unusable.
 */
export function createProducer(options: ProducerOptions = {}): Producer {
  const settings = parseSettings({
    REDIS_URL: options.redisUrl,
    CALLHOOK_PREFIX: options.prefix,
    CALLHOOK_RESULT_TTL: typeof options.resultTtl === 'number' ? `${options.resultTtl}ms` : options.resultTtl,
  });
  const redis = connectRedis(settings.redisUrl);
  const queue = createCallsQueue(redis, settings.prefix);
  // BullMQ hands the connection's errors to the queue, and prints them when no one listens there.
  queue.on('error', (error: Error) => options.onRedisError?.(error));
  const producer = new CallProducer(queue, new CallStore(redis, settings.prefix, settings.resultTtlMs));
  // Sends still waiting (for an unreachable Redis) when the producer closes end then, instead of
  // holding the close. One entry per send in flight: racing every send against one long-lived
  // promise kept each send's reaction on it, ~500 bytes per send for the producer's lifetime.
  const inFlight = new Set<(error: Error) => void>();
  const policies = options.policies === undefined ? undefined : new Set(options.policies);
  const enqueue = async (events: CallEventInput | readonly CallEventInput[]) => {
    const check = checkCalls(events, policies);
    if (!check.ok) throw new CallhookEventError(check.problems, check.code);
    return new Promise<EnqueueResult[]>((resolve, reject) => {
      inFlight.add(reject);
      producer.enqueue(check.events).then(resolve, reject).finally(() => inFlight.delete(reject));
    });
  };
  return {
    async send(event) {
      const [result] = await enqueue(event);
      return result!;
    },
    sendBatch: enqueue,
    async close() {
      const reachable = redis.status === 'ready';
      if (!reachable) {
        const error = new Error('the producer was closed while Redis was unreachable; this send may not have been queued: send it again (its call_id makes that safe)');
        for (const reject of inFlight) reject(error);
        redis.disconnect(); // a QUIT would wait for Redis too
      }
      await queue.close();
      if (reachable) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/**
 * Redis errors after which the same request may succeed later: Redis is out of memory with
 * `noeviction` (it refuses writes), a replica is read-only, a cluster is failing over, or the
 * connection is down. The API answers these with 503 and Retry-After instead of a 500.
 */
const REFUSALS = /^(OOM|READONLY|MASTERDOWN|LOADING|CLUSTERDOWN|TRYAGAIN|MISCONF|BUSY)\b/;

/**
 * A reply refusing a command before it ran (out of memory, a replica, a failover, a busy
 * script...): sending the same command again is safe, and may succeed later.
 */
export function isRedisRefusal(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError' && REFUSALS.test(error.message);
}

export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (isRedisRefusal(error)) return true;
  if (error.name === 'MaxRetriesPerRequestError') return true;
  return /Connection is closed|Stream isn't writeable|Command timed out|ECONNREFUSED|ECONNRESET/.test(error.message);
}

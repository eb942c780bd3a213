/**
 * Redis errors after which the same request may succeed later: Redis is out of memory with
 * `noeviction` (it refuses writes), a replica is read-only, a cluster is failing over, or the
 * connection is down. The API answers these with 503 and Retry-After instead of a 500.
 */
const REFUSALS = /^(OOM|READONLY|MASTERDOWN|LOADING|CLUSTERDOWN|TRYAGAIN|MISCONF|BUSY)\b/;

export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'ReplyError' && REFUSALS.test(error.message)) return true;
  if (error.name === 'MaxRetriesPerRequestError') return true;
  return /Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET/.test(error.message);
}

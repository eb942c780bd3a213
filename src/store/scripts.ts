/**
 * The call record's Lua scripts. Each checkpoint is one script (one round trip, atomic, no
 * MULTI), since the worker's Redis round trips are most of what callhook costs over a bare
 * BullMQ worker. KEYS[1] is always the call record.
 */

/**
 * Marks calls queued unless they were queued before (atomic, so two producers racing on one
 * call id queue it once). Keeps real-time results already stored for a call. One script per
 * batch: per-call commands were most of a CDR ingester's Redis client time.
 * KEYS: the calls' records. ARGV: now (ISO), ttl ms, then each call's event JSON.
 * Returns per call 1 for new, 0 for a duplicate, 2 for a duplicate still in status `queued`.
 */
export const MARK_QUEUED = `
local marks = {}
for i, key in ipairs(KEYS) do
  if redis.call('HSETNX', key, 'queued_at', ARGV[1]) == 1 then
    redis.call('HSET', key, 'event', ARGV[i + 2], 'status', 'queued')
    redis.call('HDEL', key, 'finished_at')
    redis.call('HSETNX', key, 'created_at', ARGV[1])
    redis.call('PEXPIRE', key, ARGV[2])
    marks[i] = 1
  elseif redis.call('HGET', key, 'status') == 'queued' then
    marks[i] = 2
  else
    marks[i] = 0
  end
end
return marks`;

/** Sets status running and returns the whole record (empty, and deleted, when it has no event). */
export const START_RUN = `
if redis.call('HEXISTS', KEYS[1], 'event') == 0 then
  redis.call('DEL', KEYS[1])
  return {}
end
redis.call('HSET', KEYS[1], 'status', 'running')
return redis.call('HGETALL', KEYS[1])`;

/** ARGV: policy, field, value, ttl ms, [field to delete]. Writes one app's result or pending count. */
export const CHECKPOINT = `
redis.call('HSET', KEYS[1], 'policy', ARGV[1], ARGV[2], ARGV[3])
if ARGV[5] then redis.call('HDEL', KEYS[1], ARGV[5]) end
redis.call('PEXPIRE', KEYS[1], ARGV[4])`;

/**
 * Final status, with the last app's result in the same write; a failed or partial call is
 * added to the failed-calls index (KEYS[2]), trimmed to the ttl.
 * ARGV: status, policy ('' for none), now ISO, now ms, ttl ms, call id, [result field, result JSON, pending field].
 */
export const FINISH = `
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[3])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'policy', ARGV[2]) end
if ARGV[7] then
  redis.call('HSET', KEYS[1], ARGV[7], ARGV[8])
  redis.call('HDEL', KEYS[1], ARGV[9])
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if ARGV[1] == 'failed' or ARGV[1] == 'partial' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[6])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[4]) - tonumber(ARGV[5]))
end`;

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

/**
 * Fencing: a worker writes a queued call's record only while it holds the call's BullMQ lock
 * (KEYS[2], holding ARGV[1], the job's lock token). A worker that stalled past its lock (a long
 * GC, SIGSTOP) and woke up after another worker took the call over is refused. An empty token
 * means an unfenced write (a call given up by the queue, which holds no lock).
 */
const FENCE = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end`;

/** KEYS: call, lock. ARGV: token, policy, field, value, ttl ms, [field to delete]. Writes one app's result or pending count. */
export const CHECKPOINT = `${FENCE}
redis.call('HSET', KEYS[1], 'policy', ARGV[2], ARGV[3], ARGV[4])
if ARGV[6] then redis.call('HDEL', KEYS[1], ARGV[6]) end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

/**
 * Final status, with the last app's result in the same write; a failed or partial call is
 * added to the failed-calls index (KEYS[3]), trimmed to the ttl.
 * KEYS: call, lock, failed index.
 * ARGV: token, status, policy ('' for none), now ISO, now ms, ttl ms, call id, [result field, result JSON, pending field].
 */
export const FINISH = `${FENCE}
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'finished_at', ARGV[4])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'policy', ARGV[3]) end
if ARGV[8] then
  redis.call('HSET', KEYS[1], ARGV[8], ARGV[9])
  redis.call('HDEL', KEYS[1], ARGV[10])
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
if ARGV[2] == 'failed' or ARGV[2] == 'partial' then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[7])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', tonumber(ARGV[5]) - tonumber(ARGV[6]))
end
return 1`;

/**
 * Before a real-time run sends anything: creates the call record when there is none (so a Redis
 * that refuses writes is found before a webhook goes out) and returns the record's policy.
 * ARGV: event JSON, now ISO, ttl ms. Returns the stored policy, or false.
 */
export const CLAIM_REALTIME = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'event', ARGV[1], 'created_at', ARGV[2], 'status', 'running')
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return redis.call('HGET', KEYS[1], 'policy')`;

/**
 * Real-time results. A call never queued for post-call shows the real-time outcome as its status
 * and takes the real-time policy; a call already queued, running or finished keeps its own.
 * ARGV: policy, status, now ISO, ttl ms, then result field/value pairs.
 */
export const SAVE_REALTIME = `
if redis.call('HEXISTS', KEYS[1], 'queued_at') == 0 then
  redis.call('HSETNX', KEYS[1], 'policy', ARGV[1])
  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'finished_at', ARGV[3])
end
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[4])`;

/**
 * Replay, atomically: the call must still be final and unchanged since it was read
 * (`finished_at`), and its BullMQ job (KEYS[3]) gone or finished; then the given apps' results
 * are dropped, successes kept, and the call marked queued. Of N concurrent replays one wins.
 * KEYS: call, failed index, job. ARGV: finished_at as read, keep policy (1/0), ttl ms, call id, fields to drop...
 * Returns 'ok', 'not-final:<status>', 'changed' or 'in-queue'.
 */
export const REPLAY = `
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'completed' and status ~= 'partial' and status ~= 'failed' and status ~= 'unmatched' then
  return 'not-final:' .. tostring(status)
end
if redis.call('HGET', KEYS[1], 'finished_at') ~= ARGV[1] then return 'changed' end
if redis.call('EXISTS', KEYS[3]) == 1 and redis.call('HEXISTS', KEYS[3], 'finishedOn') == 0 then return 'in-queue' end
for i = 5, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
if ARGV[2] == '0' then redis.call('HDEL', KEYS[1], 'policy') end
redis.call('HDEL', KEYS[1], 'finished_at')
redis.call('HSET', KEYS[1], 'status', 'queued')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[4])
return 'ok'`;

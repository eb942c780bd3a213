/*
 * Redis scripts of the delivery controls. Time comes from Redis (TIME), so workers on different
 * hosts share one clock. All keys of one limit or circuit start with the callhook prefix, so
 * they share a Redis Cluster slot.
 */

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * Takes a send slot of a rate limit. Slots are handed out in turn, one interval (period / count,
 * a fraction of a ms for limits over 1000/s) apart (`tat`, the next free one): a call whose
 * slot is ahead keeps it in its `hold` key and waits, so calls keep their order and sends are
 * spread over the period (a burst would reach the receiver unevenly). A call goes when its slot
 * has come, no pause (a 429's Retry-After) is in force, and the `log` of the last N sends (a
 * list, newest first) shows fewer than N in the last period: no window of one period ever holds
 * more than N grants, while calls that wake up late (a busy worker) still catch up with the
 * schedule. (At the receiver each grant arrives after the request's latency, which varies: no
 * margin here could bound that.)
 * The schedule's keys (tat, hold) name the rate (gate.ts limitKeys), so a changed rate starts a
 * schedule of its own; the log and the pause are the receiver's, whatever the rate.
 * A pause holds every call until it ends; a held call keeps its slot through it (a new slot
 * after the pause would put it behind the calls that came later), and the log spaces them out.
 * KEYS: tat, log, pause, hold. ARGV: interval ms, period ms, count, keep ms.
 * Returns ms to wait (0: go now).
 */
export const TAKE_SLOT = `${NOW}
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local keep = tonumber(ARGV[4])
local pause = tonumber(redis.call('GET', KEYS[3]) or '0')
local held = redis.call('GET', KEYS[4])
local hold = tonumber(held or '-1')
if hold < 0 then
  -- A new call: the next free slot (after any pause).
  local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now, pause)
  redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil(tat + interval - now + keep))
  hold = tat
end
local wait = math.max(hold - now, pause - now)
if redis.call('LLEN', KEYS[2]) >= count then
  wait = math.max(wait, tonumber(redis.call('LINDEX', KEYS[2], -1)) + period - now)
end
if wait > 0 then
  redis.call('SET', KEYS[4], hold, 'PX', math.ceil(wait + keep))
  return math.ceil(wait)
end
if held then redis.call('DEL', KEYS[4]) end
redis.call('LPUSH', KEYS[2], now)
redis.call('LTRIM', KEYS[2], 0, count - 1)
redis.call('PEXPIRE', KEYS[2], period + keep)
return 0`;

/** A 429 with Retry-After: the limit sends nothing until then. KEYS: pause. ARGV: ms. */
export const PAUSE = `${NOW}
local until_ms = now + tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '0') < until_ms then redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[1]) + 60000) end
return until_ms`;

/**
 * May a request go to this destination? `closed` (and the destination leaves the set of circuits,
 * where a circuit that expired without closing left it); `open` (wait the ms returned); after the
 * open period the first caller becomes the `probe` (a lease of ARGV[1] ms); the others see
 * `half_open` until it reports, with the ms left of its lease and how long it has been out.
 * KEYS: circuit, set of circuits. ARGV: lease ms, destination.
 * Returns {ms, state} ({ms, 'half_open', probe age ms}).
 */
export const CIRCUIT_ADMIT = `${NOW}
local row = redis.call('HMGET', KEYS[1], 'open_until', 'probe_until', 'probe_at')
local open_until = tonumber(row[1] or '0')
if open_until == 0 then
  redis.call('SREM', KEYS[2], ARGV[2])
  return {0, 'closed'}
end
if now < open_until then return {open_until - now, 'open'} end
local probe = tonumber(row[2] or '0')
if probe > now then return {probe - now, 'half_open', now - tonumber(row[3] or now)} end
redis.call('HSET', KEYS[1], 'probe_until', now + tonumber(ARGV[1]), 'probe_at', now)
return {0, 'probe'}`;

/**
 * What a request to the destination came to. A success closes the circuit (returns `closed`
 * when it was open). A failure counts; the threshold-th consecutive one opens it (`opened`),
 * and so does a failure after the open period (the probe's). The count is kept `keep ms` (an
 * hour) after the last failure, not just the open period: failures further apart than that (a
 * destination that times out on each call of a quiet line) still add up, and a success resets it.
 * KEYS: circuit, set of circuits. ARGV: ok 1/0, threshold, open ms, destination, keep ms.
 * Returns {state, failures, open_until}.
 */
export const CIRCUIT_RECORD = `${NOW}
if ARGV[1] == '1' then
  local was_open = redis.call('HEXISTS', KEYS[1], 'open_until') == 1
  redis.call('DEL', KEYS[1])
  if was_open then
    redis.call('SREM', KEYS[2], ARGV[4])
    return {'closed', 0, 0}
  end
  return {'ok', 0, 0}
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
local open_ms = tonumber(ARGV[3])
if (open_until == 0 and failures >= tonumber(ARGV[2])) or (open_until > 0 and now >= open_until) then
  redis.call('HSET', KEYS[1], 'open_until', now + open_ms, 'probe_until', 0)
  redis.call('PEXPIRE', KEYS[1], open_ms + tonumber(ARGV[5]))
  redis.call('SADD', KEYS[2], ARGV[4])
  return {'opened', failures, now + open_ms}
end
if open_until == 0 then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
  return {'counting', failures, 0}
end
return {'open', failures, open_until}`;

/**
 * Takes a destination out of the set of circuits when its circuit is gone (expired without a
 * success closing it). KEYS: circuit, set of circuits. ARGV: destination. Returns 1 when removed.
 */
export const CIRCUIT_FORGET = `if redis.call('HEXISTS', KEYS[1], 'open_until') == 1 then return 0 end
return redis.call('SREM', KEYS[2], ARGV[1])`;

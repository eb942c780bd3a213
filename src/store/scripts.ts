import { FINAL_STATUSES } from '../model/call';

/**
 * The call record's Lua scripts. Each checkpoint is one script (one round trip, atomic, no
 * MULTI), since the worker's Redis round trips are most of what callhook costs over a bare
 * BullMQ worker. KEYS[1] is always the call record.
 *
 * Besides the record (`<p>:call:<id>`), the scripts that change a call's status keep, in the same
 * write, the indexes the list query reads and the results feed:
 * - sorted sets by last change (ms): `<p>:idx:all`, `<p>:idx:status:<status>` (`queued` holds
 *   running calls too), `<p>:idx:policy:<id>`, `<p>:idx:number:<digits>`; trimmed to the TTL (see REINDEX,
 *   and ExpiredEntriesTrimmer for the trims when nothing is written);
 * - the stream `<p>:results`: one entry per final status, the whole call, trimmed to the TTL.
 * Their keys share the record's hash tag on Redis Cluster (the prefix is `{...}`).
 */

/** Lua: whether the status in `v` is final (FINAL_STATUSES). */
const FINAL_STATUS = (v: string) => `(${FINAL_STATUSES.map((status) => `${v} == '${status}'`).join(' or ')})`;

/** Lua: now by Redis's clock (epoch ms). */
const SERVER_NOW = `
local function serverNow()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/**
 * Lua: indexes a call written without the scripts above (see UPGRADE_RECORDS, SWEEP_QUEUED) in
 * `all`, the status set `set`, its policy's and its numbers' sets, scored `score`, each ZADD with
 * `flag` (NX: keep a score already there; GT: only a later one); policy and number sets expire
 * twice the TTL after, as REINDEX leaves them.
 */
const INDEX_CALL = `
local function indexCall(prefix, id, set, policy, nums, score, ttl, flag)
  redis.call('ZADD', prefix .. ':idx:all', flag, score, id)
  redis.call('ZADD', prefix .. ':idx:status:' .. set, flag, score, id)
  local expiring = {}
  if policy and policy ~= '' then expiring[#expiring + 1] = prefix .. ':idx:policy:' .. policy end
  for n in string.gmatch(nums or '', '[^,]+') do expiring[#expiring + 1] = prefix .. ':idx:number:' .. n end
  for _, index in ipairs(expiring) do
    redis.call('ZADD', index, flag, score, id)
    redis.call('PEXPIRE', index, 2 * tonumber(ttl))
  end
end
`;

/**
 * Moves a call in the indexes to `status`, scored `now` (Redis's clock, serverNow: the scores,
 * the trims and the feed's entry ids then agree, whatever the writers' clocks): out of its old
 * status set, into the new one, `all`, its policy's and its numbers' (the record's `nums`). The
 * moves are collected and written by writeIndexes at the end of the script, one ZREM or ZADD per
 * index for every call the script moved (a script that finishes or queues many calls moves them
 * together). Each index written but the queued set (calls not final yet, which keep their
 * records) is trimmed of entries older than the TTL when `trimNow` (a trim is a command of its
 * own: the writer of one call asks for it one time in 16, by its clock's ms, and the indexes stay
 * within about 16 writes of trimmed). Policy and number indexes (one key per number ever seen)
 * expire twice the TTL after a call last entered them, or they were last trimmed, so an idle one
 * goes.
 */
const REINDEX = `${SERVER_NOW}
local trimNow = true
local adds, addOrder, expiring, removes, removeOrder = {}, {}, {}, {}, {}
local function listOf(map, order, key)
  local list = map[key]
  if not list then
    list = {}
    map[key] = list
    order[#order + 1] = key
  end
  return list
end
local function reindex(prefix, id, old, status, policy, nums, now)
  local function put(index, expires)
    local list = listOf(adds, addOrder, index)
    list[#list + 1] = now
    list[#list + 1] = id
    if expires then expiring[index] = true end
  end
  local oldSet = (old == 'running') and 'queued' or old
  if oldSet and oldSet ~= status then
    local list = listOf(removes, removeOrder, prefix .. ':idx:status:' .. oldSet)
    list[#list + 1] = id
  end
  put(prefix .. ':idx:all')
  put(prefix .. ':idx:status:' .. status)
  if policy and policy ~= '' then put(prefix .. ':idx:policy:' .. policy, true) end
  if nums then for n in string.gmatch(nums, '[^,]+') do put(prefix .. ':idx:number:' .. n, true) end end
end
local QUEUED_SET = ':idx:status:queued'
local function writeIndexes(now, ttl)
  for _, key in ipairs(removeOrder) do redis.call('ZREM', key, unpack(removes[key])) end
  for _, index in ipairs(addOrder) do
    local entered = redis.call('ZADD', index, unpack(adds[index])) > 0
    -- The queued set holds the calls not final yet, whose records keep no TTL: never trimmed by age.
    if trimNow and string.sub(index, -#QUEUED_SET) ~= QUEUED_SET then redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. (tonumber(now) - tonumber(ttl))) end
    if expiring[index] and (trimNow or entered) then redis.call('PEXPIRE', index, 2 * tonumber(ttl)) end
  end
end
`;

/**
 * Appends the call, as the API shows it, to the results feed: `call`, the JSON the writer built
 * from its snapshot of the record (with its `status`), or, when nil, the JSON assembled here from
 * the stored JSON values without decoding them (ids, policies and times need no escaping beyond
 * cjson's).
 */
const FEED = `
local function feed(prefix, id, key, now, ttl, status, call)
  if not call then
    local h = redis.call('HGETALL', key)
    local f = {}
    local apps = {}
    for i = 1, #h, 2 do
      local name = h[i]
      if string.sub(name, 1, 2) == 'r:' then apps[#apps + 1] = cjson.encode(string.sub(name, 3)) .. ':' .. h[i + 1]
      else f[name] = h[i + 1] end
    end
    local function str(v) if v then return cjson.encode(v) else return 'null' end end
    status = f.status
    call = '{"call_id":' .. cjson.encode(id) .. ',"policy":' .. str(f.policy) .. ',"status":' .. str(f.status) ..
      ',"event":' .. (f.event or 'null') .. ',"app_data":{' .. table.concat(apps, ',') .. '},"created_at":' .. str(f.created_at or '') ..
      ',"finished_at":' .. str(f.finished_at) .. '}'
  end
  redis.call('XADD', prefix .. ':results', 'MINID', '~', tostring(tonumber(now) - tonumber(ttl)), '*', 'call_id', id, 'status', status, 'call', call)
end
`;

/** Values MARK_QUEUED takes per call. */
export const MARK_ARGS = 7;

/**
 * Marks calls queued unless they were queued before (atomic, so two producers racing on one
 * call id queue it once). Keeps real-time results already stored for a call. One script per
 * batch: per-call commands were most of a CDR ingester's Redis client time. A new record gets
 * exactly FRESH_RECORD_FIELDS (its first run builds its snapshot without reading it).
 * A queued record does not expire: the TTL starts when the call is final (FINISH).
 * A call queued now whose id still has a BullMQ job (`jobKey`) is flagged: a job BullMQ gave up
 * on outlives the record (BullMQ keeps failed jobs for days and trims them only when another
 * fails), and BullMQ ignores an add whose id it has, so the producer must remove that job first.
 * The check is an EXISTS inside this script: the common case costs no round trip.
 * KEYS: the calls' records. ARGV: now ISO, trim (1/0: for one call; a batch always trims), ttl
 * ms, prefix, then per call: id, event JSON, calling number, called number, number index keys
 * (comma-separated), policy ('' when unnamed), the key of the call's BullMQ job.
 * Returns per call 1 for a new record, 3 for a record that existed (real-time apps made it:
 * queued now, its results kept), 0 for a duplicate, 2 for a duplicate still in status `queued`;
 * plus 4 for a call queued now whose id has a job (5, 7).
 */
export const MARK_QUEUED = `${REINDEX}
local now = serverNow()
if #KEYS == 1 then trimNow = ARGV[2] == '1' end
local marks = {}
for i, key in ipairs(KEYS) do
  local a = 4 + (i - 1) * ${MARK_ARGS}
  local fresh = redis.call('EXISTS', key) == 0
  if redis.call('HSETNX', key, 'queued_at', ARGV[1]) == 1 then
    local old = nil
    if not fresh then old = redis.call('HGET', key, 'status') end
    local fields = {'event', ARGV[a + 2], 'status', 'queued', 'calling', ARGV[a + 3], 'called', ARGV[a + 4], 'nums', ARGV[a + 5]}
    if fresh then
      fields[#fields + 1] = 'created_at'
      fields[#fields + 1] = ARGV[1]
      marks[i] = 1
    end
    redis.call('HSET', key, unpack(fields))
    if not fresh then
      redis.call('HDEL', key, 'finished_at')
      redis.call('HSETNX', key, 'created_at', ARGV[1])
      marks[i] = 3
    end
    if not fresh then redis.call('PERSIST', key) end
    reindex(ARGV[4], ARGV[a + 1], old, 'queued', ARGV[a + 6], ARGV[a + 5], now)
    if redis.call('EXISTS', ARGV[a + 7]) == 1 then marks[i] = marks[i] + 4 end
  elseif redis.call('HGET', key, 'status') == 'queued' then
    marks[i] = 2
  else
    marks[i] = 0
  end
end
writeIndexes(now, ARGV[3])
return marks`;

/** The fields MARK_QUEUED gives a new record. */
export const FRESH_RECORD_FIELDS = ['queued_at', 'event', 'status', 'calling', 'called', 'nums', 'created_at'] as const;

/**
 * Sets status running and returns the whole record (empty, and deleted, when it has no event).
 * A record already final is returned as it is: its run finished, but the worker died before
 * BullMQ heard of it, so the job is to be completed with nothing run or written again.
 */
export const START_RUN = `
if redis.call('HEXISTS', KEYS[1], 'event') == 0 then
  redis.call('DEL', KEYS[1])
  return {}
end
local status = redis.call('HGET', KEYS[1], 'status')
if not ${FINAL_STATUS('status')} then redis.call('HSET', KEYS[1], 'status', 'running') end
return redis.call('HGETALL', KEYS[1])`;

/**
 * The numbers of a record an older callhook queued (it stored none): the list shows them, and
 * FINISH indexes the call by them. Only while the record exists and has none. The TTL the older
 * build gave it goes too, while it is not final: a waiting call keeps its record (MARK_QUEUED).
 * ARGV: calling number, called number, number index keys.
 */
export const ADD_NUMBERS = `
if redis.call('HEXISTS', KEYS[1], 'event') == 0 or redis.call('HEXISTS', KEYS[1], 'nums') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'calling', ARGV[1], 'called', ARGV[2], 'nums', ARGV[3])
local status = redis.call('HGET', KEYS[1], 'status')
if redis.call('HEXISTS', KEYS[1], 'queued_at') == 1 and not ${FINAL_STATUS('status')} then redis.call('PERSIST', KEYS[1]) end
return 1`;

/**
 * Fencing, in Lua: whether a worker holding lock token `token` may write the call whose lock key
 * holds `holder` and whose record has `status`. A worker writes a call's record while it holds
 * the call's BullMQ lock. A worker that stalled past its lock (a long GC, SIGSTOP) and woke up
 * after another worker took the call over is refused. A lock that lapsed with no one else holding
 * it (Redis itself paused, or refused writes, past the lock's duration) refuses only a final
 * call: the result the worker got meanwhile is kept, so the app is not sent again. An empty
 * token is an unfenced write (a call given up by the queue, which holds no lock).
 */
const FENCED_OUT = (token: string, holder: string, status: string) => `(${token} ~= '' and ${holder} ~= ${token} and (${holder} or ${FINAL_STATUS(status)}))`;

/**
 * Writes one app's result or pending attempts; the call shows `running` from its first one.
 * Returns 1, 0 when fenced out, 2 when the record is gone (it was deleted while its call ran).
 * KEYS: call, lock. ARGV: token, policy, field, value, [field to delete].
 */
export const CHECKPOINT = `
local status = redis.call('HGET', KEYS[1], 'status')
local holder = ARGV[1] ~= '' and redis.call('GET', KEYS[2])
if ${FENCED_OUT('ARGV[1]', 'holder', 'status')} then return 0 end
if not status then return 2 end
redis.call('HSET', KEYS[1], 'status', 'running', 'policy', ARGV[2], ARGV[3], ARGV[4])
if ARGV[5] then redis.call('HDEL', KEYS[1], ARGV[5]) end
return 1`;

/** Values FINISH takes per call. */
export const FINISH_ARGS = 13;

/**
 * Final statuses, each with its call's last app result; the indexes and the results feed follow
 * in the same script, so there is never a final call without its feed entry. One script finishes
 * every call a worker finished while its event loop handled one round of I/O (ScriptBatch): its
 * fixed cost and the index writes are shared. Each call is fenced by its own lock (FENCED_OUT).
 * A call already final is left as it is (its finish is answered 1): one final status, one feed
 * entry. The record expires the TTL after its final status.
 * The feed entry is the call JSON the worker built from its snapshot of the record when the
 * record has the field count the snapshot expects (nothing else wrote it meanwhile), else read
 * from the record.
 * KEYS: per call, its record and its lock. ARGV: ttl ms, prefix, then per call FINISH_ARGS values:
 * token, status, policy ('' to keep the stored one), now ISO, call id, result field,
 * result JSON, pending field to delete ('' for none of each), the call JSON before and after
 * where the result goes (see RecordSnapshot.callJsonAround), expected field count ('' for
 * these three when the worker has no snapshot), `rev` as loaded, trim ('1'/'0': one call in 16,
 * or held long).
 * Returns per call 1, 0 when fenced out, 2 when the record is gone.
 */
export const FINISH = `${REINDEX}${FEED}
local ttl, prefix = ARGV[1], ARGV[2]
local now = serverNow()
trimNow = false
local codes = {}
for i = 1, #KEYS / 2 do
  local key, lock, a = KEYS[2 * i - 1], KEYS[2 * i], 2 + (i - 1) * ${FINISH_ARGS}
  local token, status, id = ARGV[a + 1], ARGV[a + 2], ARGV[a + 5]
  local h = redis.call('HMGET', key, 'status', 'nums', 'policy', 'rev')
  local holder = token ~= '' and redis.call('GET', lock)
  if ${FENCED_OUT('token', 'holder', 'h[1]')} then codes[i] = 0
  elseif not h[1] then codes[i] = 2
  elseif ${FINAL_STATUS('h[1]')} then codes[i] = 1
  else
    local policy = (ARGV[a + 3] ~= '' and ARGV[a + 3]) or h[3]
    local fields = {'status', status, 'finished_at', ARGV[a + 4]}
    if ARGV[a + 3] ~= '' then fields[#fields + 1] = 'policy'; fields[#fields + 1] = ARGV[a + 3] end
    if ARGV[a + 6] ~= '' then fields[#fields + 1] = ARGV[a + 6]; fields[#fields + 1] = ARGV[a + 7] end
    redis.call('HSET', key, unpack(fields))
    if ARGV[a + 8] ~= '' then redis.call('HDEL', key, ARGV[a + 8]) end
    redis.call('PEXPIRE', key, ttl)
    if ARGV[a + 13] == '1' then trimNow = true end
    reindex(prefix, id, h[1], status, policy, h[2], now)
    local built = ARGV[a + 9] ~= '' and (h[4] or '') == ARGV[a + 12] and redis.call('HLEN', key) == tonumber(ARGV[a + 11])
    feed(prefix, id, key, now, ttl, status, built and (ARGV[a + 9] .. ARGV[a + 7] .. ARGV[a + 10]) or nil)
    codes[i] = 1
  end
end
writeIndexes(now, ttl)
return codes`;

/**
 * Before a real-time run sends anything: creates the call record when there is none (so a Redis
 * that refuses writes is found before a webhook goes out) and returns the record's policy.
 * ARGV: event JSON, now ISO, ttl ms, calling number, called number, number index keys.
 * Returns {1 when it created the record, the stored policy or false}.
 */
export const CLAIM_REALTIME = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'event', ARGV[1], 'created_at', ARGV[2], 'status', 'running', 'calling', ARGV[4], 'called', ARGV[5], 'nums', ARGV[6])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {1, false}
end
return {0, redis.call('HGET', KEYS[1], 'policy')}`;

/** Values SAVE_REALTIME takes per call before its result field/value pairs. */
export const SAVE_REALTIME_ARGS = 9;

/**
 * Real-time results. A call never queued for post-call shows the real-time outcome as its status
 * (indexed, and in the feed) and takes the real-time policy, unless its post-call apps are about
 * to be queued (`final` 0: it is listed as running, and its one feed entry comes when they
 * finish); a call already queued, running or finished keeps its own status and policy. Every
 * save raises the record's `rev` (see RecordSnapshot). The feed entry is the caller's call JSON
 * when the record has the field count its snapshot expects and no other save came first (`rev`
 * is 1).
 * A record queued for post-call apps that have not finished keeps no TTL (see MARK_QUEUED).
 * One script saves every call a process answered in one round of I/O (ScriptBatch), as FINISH
 * does: the index writes are shared (they were half of a real-time call's Redis CPU).
 * KEYS: per call, its record. ARGV: ttl ms, prefix, then per call SAVE_REALTIME_ARGS values:
 * policy, status, now ISO, trim (1/0), call id, call JSON and expected field count ('' without a
 * snapshot), final (1/0), the number of result fields, then its result field/value pairs.
 * Returns per call 1 when it gave the call its final status, else 0 (a call queued for post-call
 * apps, or `final` 0).
 */
export const SAVE_REALTIME = `${REINDEX}${FEED}
local ttl, prefix = ARGV[1], ARGV[2]
local now = nil
trimNow = false
local done = {}
local a = 2
for i, key in ipairs(KEYS) do
  local policyArg, status, finishedAt, trim, id, call, fieldCount, final = unpack(ARGV, a + 1, a + 8)
  local first, last = a + ${SAVE_REALTIME_ARGS} + 1, a + ${SAVE_REALTIME_ARGS} + 2 * tonumber(ARGV[a + ${SAVE_REALTIME_ARGS}])
  a = last
  final = final == '1'
  local h = redis.call('HMGET', key, 'queued_at', 'status', 'nums', 'policy', 'rev')
  local rev = (tonumber(h[5]) or 0) + 1
  local policy = h[4] or policyArg
  if h[1] then
    redis.call('HSET', key, 'rev', rev, unpack(ARGV, first, last))
  elseif final then
    redis.call('HSET', key, 'rev', rev, 'status', status, 'finished_at', finishedAt, 'policy', policy, unpack(ARGV, first, last))
  else
    redis.call('HSET', key, 'rev', rev, 'policy', policy, unpack(ARGV, first, last))
  end
  if not h[1] or ${FINAL_STATUS('h[2]')} then redis.call('PEXPIRE', key, ttl) end
  if not h[1] then
    now = now or serverNow()
    if trim == '1' then trimNow = true end
    reindex(prefix, id, h[2], final and status or 'queued', policy, h[3], now)
    if final then
      local built = call ~= '' and rev == 1 and redis.call('HLEN', key) == tonumber(fieldCount)
      feed(prefix, id, key, now, ttl, status, built and call or nil)
    end
  end
  done[i] = (final and not h[1]) and 1 or 0
end
if now then writeIndexes(now, ttl) end
return done`;

/**
 * Replay, atomically: the call must still be final and unchanged since it was read
 * (`finished_at`), and its BullMQ job (KEYS[2]) gone or finished; then the given apps' results
 * are dropped, successes kept, and the call marked queued. Of N concurrent replays one wins.
 * The record keeps no TTL until the call is final again.
 * KEYS: call, job. ARGV: finished_at as read, keep policy (1/0), ttl ms, call id, prefix, fields to drop...
 * Returns 'ok', 'not-final:<status>', 'changed' or 'in-queue'.
 */
export const REPLAY = `${REINDEX}
local status = redis.call('HGET', KEYS[1], 'status')
if not ${FINAL_STATUS('status')} then return 'not-final:' .. tostring(status) end
if redis.call('HGET', KEYS[1], 'finished_at') ~= ARGV[1] then return 'changed' end
if redis.call('EXISTS', KEYS[2]) == 1 and redis.call('HEXISTS', KEYS[2], 'finishedOn') == 0 then return 'in-queue' end
for i = 6, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
if ARGV[2] == '0' then
  local policy = redis.call('HGET', KEYS[1], 'policy')
  if policy then redis.call('ZREM', ARGV[5] .. ':idx:policy:' .. policy, ARGV[4]) end
  redis.call('HDEL', KEYS[1], 'policy')
end
redis.call('HDEL', KEYS[1], 'finished_at')
redis.call('HSET', KEYS[1], 'status', 'queued')
redis.call('PERSIST', KEYS[1])
local h = redis.call('HMGET', KEYS[1], 'nums', 'policy')
local now = serverNow()
reindex(ARGV[5], ARGV[4], status, 'queued', h[2], h[1], now)
writeIndexes(now, ARGV[3])
return 'ok'`;

/**
 * One page of list rows: per call, the fields a row shows and each app's status (read from the
 * stored results without decoding them: JSON.stringify writes `status` first), and `locked` when
 * it is queued and its job's BullMQ lock is held (see shownStatus). A call whose record has expired comes back
 * empty. KEYS: the calls' records, then their jobs' lock keys.
 */
export const LIST_ROWS = `
local rows = {}
local n = #KEYS / 2
for i = 1, n do
  local h = redis.call('HGETALL', KEYS[i])
  local row = {}
  local queued = false
  for j = 1, #h, 2 do
    local name = h[j]
    if string.sub(name, 1, 2) == 'r:' then
      row[#row + 1] = name
      row[#row + 1] = string.match(h[j + 1], '^{"status":"(%a+)"') or ''
    elseif name ~= 'event' and string.sub(name, 1, 2) ~= 'p:' then
      row[#row + 1] = name
      row[#row + 1] = h[j + 1]
      if name == 'status' and h[j + 1] == 'queued' then queued = true end
    end
  end
  if queued and redis.call('EXISTS', KEYS[n + i]) == 1 then
    row[#row + 1] = 'locked'
    row[#row + 1] = '1'
  end
  rows[i] = row
end
return rows`;

/** Values UPGRADE_RECORDS takes per record. */
const UPGRADE_ARGS = 5;

/**
 * One page of the upgrade of records an older callhook wrote (see upgradeStore): each record that
 * has an event but no `nums` gets its numbers and enters the indexes it belongs in (`all`, its
 * status's, its policy's, its numbers'), scored by its last change. ZADD NX: a call one of the
 * scripts above indexed since (a new worker finished it) keeps its place. A queued or running call
 * loses the TTL an older build gave it at every write: a call waiting for a retry or an open
 * circuit keeps its record however long it waits (see MARK_QUEUED). Renews the upgrade's lock,
 * and does nothing once another process holds it.
 * KEYS: the lock, then the records. ARGV: lock token, lock ms, ttl ms, prefix, then per record:
 * call id, calling number, called number, number index keys, score (ms).
 * Returns the number of records upgraded, -1 when the lock is lost.
 */
export const UPGRADE_RECORDS = `${INDEX_CALL}
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local ttl, prefix = tonumber(ARGV[3]), ARGV[4]
local upgraded = 0
for i = 2, #KEYS do
  local a = 4 + (i - 2) * ${UPGRADE_ARGS}
  local id, calling, called, nums, score = unpack(ARGV, a + 1, a + ${UPGRADE_ARGS})
  local h = redis.call('HMGET', KEYS[i], 'event', 'nums', 'status', 'policy', 'queued_at')
  if h[1] and not h[2] and h[3] then
    redis.call('HSET', KEYS[i], 'calling', calling, 'called', called, 'nums', nums)
    indexCall(prefix, id, (h[3] == 'running') and 'queued' or h[3], h[4], nums, score, ttl, 'NX')
    if h[5] and not ${FINAL_STATUS('h[3]')} then redis.call('PERSIST', KEYS[i]) end
    upgraded = upgraded + 1
  end
end
return upgraded`;

/**
 * Entries of the queued set whose call ended without the scripts above (an older worker finished
 * it during a rolling upgrade; its record was deleted or evicted): the queued set is never
 * trimmed by age, so they stayed forever. Each entry whose record is still gone (`status` '') or
 * still has the final status the caller read leaves the queued set; a final call not in its
 * status set yet is indexed there and in `all`, its policy's and its numbers' sets, scored
 * `score` (its finish), and appended to the results feed (it finished after this build's first
 * process queued it: a consumer of the feed expects it).
 * KEYS: the queued set. ARGV: ttl ms, prefix, then per entry: call id, status ('' when the
 * record was gone), score (ms). Returns the number of entries removed.
 */
export const SWEEP_QUEUED = `${SERVER_NOW}${INDEX_CALL}${FEED}
local ttl, prefix = ARGV[1], ARGV[2]
local now = serverNow()
local removed = 0
for a = 3, #ARGV, 3 do
  local id, expected, score = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local key = prefix .. ':call:' .. id
  local h = redis.call('HMGET', key, 'status', 'policy', 'nums')
  local status = h[1] or ''
  if status == expected and (status == '' or ${FINAL_STATUS('status')}) then
    removed = removed + redis.call('ZREM', KEYS[1], id)
    if status ~= '' and not redis.call('ZSCORE', prefix .. ':idx:status:' .. status, id) then
      indexCall(prefix, id, status, h[2], h[3], score, ttl, 'GT')
      feed(prefix, id, key, now, ttl, status, nil)
    end
  end
end
return removed`;

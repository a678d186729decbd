-- Register a lesson in one round trip (enqueueing is on every user's critical path): keep its
-- folder's files longer (or say they are missing: the caller stores them and asks again), give
-- back the live lesson for the same lesson and session, report a FAILED one (the caller tears it
-- down and asks again), apply the admission limits, then write the record and its indexes.
--
-- KEYS[1] idempotency: string, the id of the live lesson for this lesson and session
-- KEYS[2] session: set, the session's live lesson ids
-- KEYS[3] expiry: zset, id -> when the lesson expires
-- KEYS[4] deadline: zset, id -> its provisioning deadline
-- KEYS[5] heartbeat: zset, id -> its last progress
-- KEYS[6] record: hash, the new lesson's record
-- ARGV[1] id: the new lesson's id
-- ARGV[2] record_prefix: a record's key without the id
-- ARGV[3] reusable: the states in which the live lesson is given back, comma-separated
-- ARGV[4] failed: the FAILED state
-- ARGV[5] max_live: admission, live lessons in all
-- ARGV[6] max_session: admission, live lessons of one session
-- ARGV[7] expires_at: the new lesson's expiry
-- ARGV[8] deadline_at: the new lesson's provisioning deadline
-- ARGV[9] now: the time, also its first heartbeat
-- ARGV[10] fields: the record's fields, a JSON object of strings
-- ARGV[11] files_key: the key of the lesson's files ('' for a lesson without a folder)
-- ARGV[12] files_ttl: seconds the files are kept from now
-- Returns {outcome, value}: {'files-missing', ''}, {'existing', id}, {'failed', id},
-- {'full', live count}, {'session-full', the session's count} or {'created', id}.
local idempotency = KEYS[1]
local session = KEYS[2]
local expiry = KEYS[3]
local deadline = KEYS[4]
local heartbeat = KEYS[5]
local record = KEYS[6]
local id = ARGV[1]
local record_prefix = ARGV[2]
local reusable = ARGV[3]
local failed = ARGV[4]
local max_live = ARGV[5]
local max_session = ARGV[6]
local expires_at = ARGV[7]
local deadline_at = ARGV[8]
local now = ARGV[9]
local fields = ARGV[10]
local files_key = ARGV[11]
local files_ttl = ARGV[12]

if files_key ~= '' and redis.call('EXPIRE', files_key, files_ttl) == 0 then
  return {'files-missing', ''}
end
local existing = redis.call('GET', idempotency)
if existing then
  local state = redis.call('HGET', record_prefix .. existing, 'state')
  if state and string.find(',' .. reusable .. ',', ',' .. state .. ',', 1, true) then
    return {'existing', existing}
  end
  if state == failed then
    return {'failed', existing}
  end
end
local live = redis.call('ZCARD', expiry)
if live >= tonumber(max_live) then
  return {'full', tostring(live)}
end
local mine = redis.call('SCARD', session)
if mine >= tonumber(max_session) then
  return {'session-full', tostring(mine)}
end
local flat = {}
for name, value in pairs(cjson.decode(fields)) do
  table.insert(flat, name)
  table.insert(flat, value)
end
redis.call('HSET', record, unpack(flat))
redis.call('SET', idempotency, id)
redis.call('SADD', session, id)
redis.call('ZADD', expiry, expires_at, id)
redis.call('ZADD', deadline, deadline_at, id)
redis.call('ZADD', heartbeat, now, id)
return {'created', id}

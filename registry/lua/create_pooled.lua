-- Register a warm-pool lesson (no session yet) unless its pool is full: refills running at once
-- (beat's tick, the one after a claim) never make a pool larger than its size. Otherwise as
-- create.lua: the files kept longer (or reported missing), the global admission limit (pool
-- lessons count as live), the record and its indexes. It never expires while unclaimed.
--
-- KEYS[1] pool: set, the slug's unclaimed pool lessons
-- KEYS[2] expiry: zset, id -> when the lesson expires
-- KEYS[3] deadline: zset, id -> its provisioning deadline
-- KEYS[4] heartbeat: zset, id -> its last progress
-- KEYS[5] record: hash, the new lesson's record
-- ARGV[1] id: the new lesson's id
-- ARGV[2] size: the pool's size
-- ARGV[3] max_live: admission, live lessons in all
-- ARGV[4] deadline_at: the new lesson's provisioning deadline
-- ARGV[5] now: the time, also its first heartbeat
-- ARGV[6] fields: the record's fields, a JSON object of strings
-- ARGV[7] files_key: the key of the lesson's files ('' for a lesson without a folder)
-- ARGV[8] files_ttl: seconds the files are kept from now
-- Returns {outcome, value}: {'files-missing', ''}, {'pool-full', its lessons},
-- {'full', live count} or {'created', id}.
local pool = KEYS[1]
local expiry = KEYS[2]
local deadline = KEYS[3]
local heartbeat = KEYS[4]
local record = KEYS[5]
local id = ARGV[1]
local size = ARGV[2]
local max_live = ARGV[3]
local deadline_at = ARGV[4]
local now = ARGV[5]
local fields = ARGV[6]
local files_key = ARGV[7]
local files_ttl = ARGV[8]

if files_key ~= '' and redis.call('EXPIRE', files_key, files_ttl) == 0 then
  return {'files-missing', ''}
end
local members = redis.call('SCARD', pool)
if members >= tonumber(size) then
  return {'pool-full', tostring(members)}
end
local live = redis.call('ZCARD', expiry)
if live >= tonumber(max_live) then
  return {'full', tostring(live)}
end
local flat = {}
for name, value in pairs(cjson.decode(fields)) do
  table.insert(flat, name)
  table.insert(flat, value)
end
redis.call('HSET', record, unpack(flat))
redis.call('SADD', pool, id)
redis.call('ZADD', expiry, '+inf', id)
redis.call('ZADD', deadline, deadline_at, id)
redis.call('ZADD', heartbeat, now, id)
return {'created', id}

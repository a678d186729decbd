-- Register a lesson in one round trip (enqueueing is on every user's critical path): keep its
-- folder's files longer (or say they are missing: the caller stores them and asks again), give
-- back the live lesson for the same lesson and session, report a FAILED one (the caller tears it
-- down and asks again), apply the session's limit, claim a READY lesson of the same version from
-- the slug's warm pool when it has one (it already counts as live, so the global limit does not
-- apply to a claim), apply the global limit, then write the record and its indexes.
--
-- A warm-pool lesson (pool_lesson set) has no session: none of the session's steps apply; it
-- is registered only while its pool holds fewer than its size (refills running at once never
-- overfill a pool), it counts toward the global limit, and it never expires while unclaimed.
--
-- KEYS[1] idempotency: string, the id of the live lesson for this lesson and session
-- KEYS[2] session: set, the session's live lesson ids
-- KEYS[3] expiry: zset, id -> when the lesson expires
-- KEYS[4] deadline: zset, id -> its provisioning deadline
-- KEYS[5] heartbeat: zset, id -> its last progress
-- KEYS[6] record: hash, the new lesson's record
-- KEYS[7] pool_sizes: hash, slug -> warm-pool size set by operators
-- KEYS[8] pool: set, the slug's unclaimed pool lessons
-- KEYS[9] pool_ready: set, those of them READY
-- KEYS[10] pool_stats: hash, the pool's figures (claims, misses)
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
-- ARGV[13] slug: the lesson's slug
-- ARGV[14] session_id: the session asking
-- ARGV[15] pool_default: the slug's pool size when operators set none (LESSONQ_WARM_POOL)
-- ARGV[16] pool_version: the version a pool lesson must have to be claimed ('' claims none)
-- ARGV[17] ready: the READY state
-- ARGV[18] pool_lesson: for a warm-pool lesson, its pool's size; '' for a session's lesson
-- Returns {outcome, value}: {'files-missing', ''}, {'existing', id}, {'failed', id},
-- {'full', live count}, {'session-full', the session's count}, {'claimed', the pool lesson's
-- id}, {'pool-full', the pool's lessons} or {'created', id}.
local idempotency = KEYS[1]
local session = KEYS[2]
local expiry = KEYS[3]
local deadline = KEYS[4]
local heartbeat = KEYS[5]
local record = KEYS[6]
local pool_sizes = KEYS[7]
local pool = KEYS[8]
local pool_ready = KEYS[9]
local pool_stats = KEYS[10]
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
local slug = ARGV[13]
local session_id = ARGV[14]
local pool_default = ARGV[15]
local pool_version = ARGV[16]
local ready = ARGV[17]
local pool_lesson = ARGV[18]

if files_key ~= '' and redis.call('EXPIRE', files_key, files_ttl) == 0 then
  return {'files-missing', ''}
end
if pool_lesson == '' then
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
  local mine = redis.call('SCARD', session)
  if mine >= tonumber(max_session) then
    return {'session-full', tostring(mine)}
  end
  local pool_size = tonumber(redis.call('HGET', pool_sizes, slug) or pool_default)
  if pool_version ~= '' and pool_size > 0 then
    for _, candidate in ipairs(redis.call('SMEMBERS', pool_ready)) do
      local held = record_prefix .. candidate
      local found = redis.call('HMGET', held, 'state', 'pool_version', 'session_id')
      if found[1] == ready and found[2] == pool_version and not found[3] then
        redis.call('HSET', held, 'session_id', session_id, 'claimed_at', now,
                   'expires_at', expires_at, 'updated_at', now)
        redis.call('SREM', pool_ready, candidate)
        redis.call('SREM', pool, candidate)
        redis.call('SET', idempotency, candidate)
        redis.call('SADD', session, candidate)
        redis.call('ZADD', expiry, expires_at, candidate)
        redis.call('HINCRBY', pool_stats, 'claims', 1)
        return {'claimed', candidate}
      end
      if found[1] ~= ready or found[3] then
        -- No longer claimable (its teardown began, or it was claimed): the entry is stale.
        redis.call('SREM', pool_ready, candidate)
      end
    end
    redis.call('HINCRBY', pool_stats, 'misses', 1)
  end
else
  local members = redis.call('SCARD', pool)
  if members >= tonumber(pool_lesson) then
    return {'pool-full', tostring(members)}
  end
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
if pool_lesson == '' then
  redis.call('SET', idempotency, id)
  redis.call('SADD', session, id)
  redis.call('ZADD', expiry, expires_at, id)
else
  redis.call('SADD', pool, id)
  redis.call('ZADD', expiry, '+inf', id)
end
redis.call('ZADD', deadline, deadline_at, id)
redis.call('ZADD', heartbeat, now, id)
return {'created', id}

-- Move lessons to TEARING_DOWN (GC may move a hundred at once): each live one stops counting as
-- live (out of the expiry and deadline indexes and its session's set, or out of its warm pool),
-- gets its teardown deadline, and a heartbeat so that GC resumes its teardown should the task
-- be lost.
--
-- KEYS[1] expiry: zset, id -> when the lesson expires
-- KEYS[2] deadline: zset, id -> provisioning deadline
-- KEYS[3] heartbeat: zset, id -> last progress
-- ARGV[1] now: the time
-- ARGV[2] teardown_deadline: when a teardown starting now is overdue
-- ARGV[3] record_prefix: a record's key without the id
-- ARGV[4] session_prefix: a session set's key without the session id
-- ARGV[5] live: the live states, comma-separated
-- ARGV[6] tearing_down: the TEARING_DOWN state
-- ARGV[7] ids: the lessons, a JSON list of ids
-- ARGV[8] pool_prefix: a pool's key without the slug
-- ARGV[9] ready_suffix: what follows a pool's key in the key of its READY set
-- ARGV[10] unclaimed_only: '1' to move only pool lessons no session has claimed (a refill
--   retiring them must never tear down one claimed a moment before)
-- Returns the ids that changed.
local expiry = KEYS[1]
local deadline = KEYS[2]
local heartbeat = KEYS[3]
local now = ARGV[1]
local teardown_deadline = ARGV[2]
local record_prefix = ARGV[3]
local session_prefix = ARGV[4]
local live = ARGV[5]
local tearing_down = ARGV[6]
local ids = ARGV[7]
local pool_prefix = ARGV[8]
local ready_suffix = ARGV[9]
local unclaimed_only = ARGV[10]

local changed = {}
for _, id in ipairs(cjson.decode(ids)) do
  local record = record_prefix .. id
  local state = redis.call('HGET', record, 'state')
  local found = redis.call('HMGET', record, 'session_id', 'pooled', 'lesson')
  local claimed = found[1] or found[2] ~= '1'
  if state and string.find(',' .. live .. ',', ',' .. state .. ',', 1, true)
     and not (unclaimed_only == '1' and claimed) then
    redis.call('HSET', record, 'state', tearing_down, 'updated_at', now,
               'teardown_deadline', teardown_deadline)
    redis.call('ZREM', expiry, id)
    redis.call('ZREM', deadline, id)
    if found[1] then
      redis.call('SREM', session_prefix .. found[1], id)
    elseif found[2] == '1' then
      redis.call('SREM', pool_prefix .. found[3], id)
      redis.call('SREM', pool_prefix .. found[3] .. ready_suffix, id)
    end
    redis.call('ZADD', heartbeat, now, id)
    table.insert(changed, id)
  end
end
return changed

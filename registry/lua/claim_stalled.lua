-- Claim the lessons whose heartbeat went quiet, for GC to resume: their heartbeat moves to now
-- in the same step, so two GC ticks at once (two beats, or a slow tick) never both resume one.
--
-- KEYS[1] heartbeat: zset, id -> last progress
-- ARGV[1] quiet_since: a lesson whose last progress is at or before this is stalled
-- ARGV[2] now: the time
-- ARGV[3] limit: claim at most this many
-- Returns the ids claimed.
local heartbeat = KEYS[1]
local quiet_since = ARGV[1]
local now = ARGV[2]
local limit = ARGV[3]

local stalled = redis.call('ZRANGEBYSCORE', heartbeat, '-inf', quiet_since, 'LIMIT', 0, limit)
for _, id in ipairs(stalled) do
  redis.call('ZADD', heartbeat, now, id)
end
return stalled

-- Move a READY lesson to another stage (or apply its stage again): CONFIGURING, with the stage,
-- a new generation of configuration Jobs, its configure step queued (the caller sends it), a
-- deadline and a heartbeat. A lesson already CONFIGURING that stage is left as it is.
--
-- KEYS[1] record: hash, the lesson's record
-- KEYS[2] deadline: zset, id -> deadline
-- KEYS[3] heartbeat: zset, id -> when progress is next due
-- ARGV[1] id: the lesson's id
-- ARGV[2] stage: the stage asked for
-- ARGV[3] now: the time
-- ARGV[4] deadline_at: when the stage change fails if it has not finished
-- ARGV[5] ready: the READY state
-- ARGV[6] configuring: the CONFIGURING state
-- ARGV[7] step: the configure step's name
-- ARGV[8] queued: the queued status of a step
-- Returns {'changed'}, {'same'} (already configuring that stage), {'missing'} or
-- {'conflict', the lesson's state}.
local record = KEYS[1]
local deadline = KEYS[2]
local heartbeat = KEYS[3]
local id = ARGV[1]
local stage = ARGV[2]
local now = ARGV[3]
local deadline_at = ARGV[4]
local ready = ARGV[5]
local configuring = ARGV[6]
local step = ARGV[7]
local queued = ARGV[8]

local state = redis.call('HGET', record, 'state')
if not state then
  return {'missing'}
end
if state == configuring and redis.call('HGET', record, 'stage') == stage then
  return {'same'}
end
if state ~= ready then
  return {'conflict', state}
end
redis.call('HINCRBY', record, 'config_generation', 1)
redis.call('HSET', record, 'state', configuring, 'stage', stage, 'configured', 0,
           'step:' .. step, queued, 'updated_at', now, 'deadline', deadline_at)
redis.call('HDEL', record, 'start:' .. step, 'end:' .. step)
redis.call('ZADD', deadline, deadline_at, id)
redis.call('ZADD', heartbeat, now, id)
return {'changed'}

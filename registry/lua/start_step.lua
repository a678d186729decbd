-- Start a step, only while the lesson is provisioning and once the steps it needs are done (a
-- message delivered out of order is dropped: the step is sent again when they are): mark the
-- step running (keeping its first
-- start time across retries) and a QUEUED lesson PROVISIONING (a CONFIGURING one stays so),
-- beat the heartbeat, and return the whole record (the plan included), so that the step needs
-- no second read.
--
-- KEYS[1] record: hash, the lesson's record
-- KEYS[2] heartbeat: zset, id -> last progress
-- ARGV[1] step: the step's name
-- ARGV[2] now: the time
-- ARGV[3] id: the lesson's id
-- ARGV[4] provisioning_states: the states a step may start in, comma-separated
-- ARGV[5] provisioning: the PROVISIONING state
-- ARGV[6] running: the running status of a step
-- ARGV[7] queued: the QUEUED state
-- ARGV[8] needs: the steps this one needs, a JSON list
-- ARGV[9] done: the done status of a step
-- Returns the record as HGETALL gives it, false when the lesson is not provisioning, or 0 when
-- a step it needs is not done.
local record = KEYS[1]
local heartbeat = KEYS[2]
local step = ARGV[1]
local now = ARGV[2]
local id = ARGV[3]
local provisioning_states = ARGV[4]
local provisioning = ARGV[5]
local running = ARGV[6]
local queued = ARGV[7]
local needs = ARGV[8]
local done = ARGV[9]

local state = redis.call('HGET', record, 'state')
if not state or not string.find(',' .. provisioning_states .. ',', ',' .. state .. ',', 1, true) then
  return false
end
for _, need in ipairs(cjson.decode(needs)) do
  if redis.call('HGET', record, 'step:' .. need) ~= done then
    return 0
  end
end
local field = 'step:' .. step
if redis.call('HGET', record, field) ~= running then
  redis.call('HSET', record, 'start:' .. step, now)
end
if state == queued then
  redis.call('HSET', record, 'state', provisioning)
end
redis.call('HSET', record, 'updated_at', now, field, running)
redis.call('ZADD', heartbeat, now, id)
return redis.call('HGETALL', record)

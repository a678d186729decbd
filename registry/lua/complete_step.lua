-- Finish a step: mark it done, then queue (and return) every step not yet started whose
-- dependencies are all done; when every step is done, the lesson is READY. Two steps finishing
-- at once run one after the other here, so a successor is queued exactly once. A warm-pool
-- lesson that becomes READY unclaimed joins its pool's READY set (from there a create claims
-- it), and its provisioning time is added to the pool's figures.
--
-- KEYS[1] record: hash, the lesson's record
-- KEYS[2] deadline: zset, id -> provisioning deadline
-- KEYS[3] heartbeat: zset, id -> last progress
-- ARGV[1] step: the step that finished
-- ARGV[2] now: the time
-- ARGV[3] id: the lesson's id
-- ARGV[4] provisioning: the PROVISIONING state
-- ARGV[5] done: the done status of a step
-- ARGV[6] queued: the queued status of a step
-- ARGV[7] ready: the READY state
-- ARGV[8] pipeline: JSON list of [step, [the steps it needs]], in pipeline order
-- ARGV[9] configuring: the CONFIGURING state (a stage change's configure step finishes too)
-- ARGV[10] pool_prefix: a pool's key without the slug
-- ARGV[11] ready_suffix: what follows a pool's key in the key of its READY set
-- ARGV[12] stats_suffix: what follows a pool's key in the key of its figures
-- Returns the steps it queued.
local record = KEYS[1]
local deadline = KEYS[2]
local heartbeat = KEYS[3]
local step = ARGV[1]
local now = ARGV[2]
local id = ARGV[3]
local provisioning = ARGV[4]
local done = ARGV[5]
local queued = ARGV[6]
local ready = ARGV[7]
local pipeline = ARGV[8]
local configuring = ARGV[9]
local pool_prefix = ARGV[10]
local ready_suffix = ARGV[11]
local stats_suffix = ARGV[12]

local state = redis.call('HGET', record, 'state')
if state ~= provisioning and state ~= configuring then
  return {}
end
redis.call('HSET', record, 'step:' .. step, done, 'end:' .. step, now, 'updated_at', now)
local following = {}
local all_done = true
for _, entry in ipairs(cjson.decode(pipeline)) do
  local name, needs = entry[1], entry[2]
  local status = redis.call('HGET', record, 'step:' .. name)
  if status ~= done then
    all_done = false
    if not status then
      local unblocked = true
      for _, need in ipairs(needs) do
        if redis.call('HGET', record, 'step:' .. need) ~= done then
          unblocked = false
          break
        end
      end
      if unblocked then
        redis.call('HSET', record, 'step:' .. name, queued)
        table.insert(following, name)
      end
    end
  end
end
if all_done then
  redis.call('HSET', record, 'state', ready, 'ready_at', now)
  redis.call('ZREM', deadline, id)
  redis.call('ZREM', heartbeat, id)
  local found = redis.call('HMGET', record, 'pooled', 'session_id', 'lesson', 'created_at')
  if state == provisioning and found[1] == '1' and not found[2] then
    local pool = pool_prefix .. found[3]
    local took = tonumber(now) - tonumber(found[4])
    redis.call('SADD', pool .. ready_suffix, id)
    redis.call('HINCRBY', pool .. stats_suffix, 'refills', 1)
    redis.call('HINCRBYFLOAT', pool .. stats_suffix, 'refill_seconds', took)
    redis.call('HSET', pool .. stats_suffix, 'last_refill_seconds', took)
  end
else
  redis.call('ZADD', heartbeat, now, id)
end
return following

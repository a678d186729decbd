"""The registry's hot transitions as Redis Lua scripts: one round trip each, atomic by nature.

Enqueueing, starting a step and finishing one are on every lesson's critical path, several
times per lesson, and GC moves many lessons at once; as WATCH/MULTI transactions they would
take three to five round trips each, or hundreds of commands.
Names of states and statuses are passed in by the caller, so Python's enums stay the one source.
"""

# Registering a lesson in one round trip (enqueueing is on every user's critical path): reuse
# the live lesson for the same lesson and session, report a FAILED one (the caller tears it
# down and asks again), apply the admission limits, then write the record and its indexes.
# KEYS: idempotency key, session set, expiry, deadline, heartbeat, new record.
# ARGV: id, record key prefix, reusable states (comma-separated), the failed state,
#       max live, max per session, expires at, deadline, now, then the record's field/value pairs.
CREATE = """
local existing = redis.call('GET', KEYS[1])
if existing then
  local state = redis.call('HGET', ARGV[2] .. existing, 'state')
  if state and string.find(',' .. ARGV[3] .. ',', ',' .. state .. ',', 1, true) then
    return {'existing', existing}
  end
  if state == ARGV[4] then
    return {'failed', existing}
  end
end
local live = redis.call('ZCARD', KEYS[3])
if live >= tonumber(ARGV[5]) then
  return {'full', tostring(live)}
end
local mine = redis.call('SCARD', KEYS[2])
if mine >= tonumber(ARGV[6]) then
  return {'session-full', tostring(mine)}
end
redis.call('HSET', KEYS[6], unpack(ARGV, 10))
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[7], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[8], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[9], ARGV[1])
return {'created', ARGV[1]}
"""


# Starting a step: only while the lesson is provisioning. Marks the step running (keeping the
# first start time across retries), the lesson PROVISIONING, beats the heartbeat, and returns
# the whole record (the plan included) so the step needs no second read.
# KEYS: record, heartbeat. ARGV: step, now, lesson id, provisioning states (comma-separated),
#       the PROVISIONING state, the running status.
START_STEP = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state or not string.find(',' .. ARGV[4] .. ',', ',' .. state .. ',', 1, true) then
  return false
end
local field = 'step:' .. ARGV[1]
if redis.call('HGET', KEYS[1], field) ~= ARGV[6] then
  redis.call('HSET', KEYS[1], 'start:' .. ARGV[1], ARGV[2])
end
redis.call('HSET', KEYS[1], 'state', ARGV[5], 'updated_at', ARGV[2], field, ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return redis.call('HGETALL', KEYS[1])
"""

# Finishing a step: marks it done, then queues (and returns) every step not yet started whose
# dependencies are all done; when every step is done, the lesson is READY. Two steps finishing
# at once run one after the other here, so a successor is queued exactly once.
# KEYS: record, deadline, heartbeat. ARGV: step, now, lesson id, the PROVISIONING state, the
#       done status, the queued status, the READY state, then each step and its dependencies
#       (comma-separated), in pipeline order.
COMPLETE_STEP = """
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[4] then
  return {}
end
redis.call('HSET', KEYS[1], 'step:' .. ARGV[1], ARGV[5], 'end:' .. ARGV[1], ARGV[2],
           'updated_at', ARGV[2])
local following = {}
local all_done = true
for i = 8, #ARGV, 2 do
  local status = redis.call('HGET', KEYS[1], 'step:' .. ARGV[i])
  if status ~= ARGV[5] then
    all_done = false
    if not status then
      local unblocked = true
      for dep in string.gmatch(ARGV[i + 1], '[^,]+') do
        if redis.call('HGET', KEYS[1], 'step:' .. dep) ~= ARGV[5] then
          unblocked = false
          break
        end
      end
      if unblocked then
        redis.call('HSET', KEYS[1], 'step:' .. ARGV[i], ARGV[6])
        table.insert(following, ARGV[i])
      end
    end
  end
end
if all_done then
  redis.call('HSET', KEYS[1], 'state', ARGV[7], 'ready_at', ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('ZREM', KEYS[3], ARGV[3])
else
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
end
return following
"""


# Moving lessons to TEARING_DOWN (GC may move a hundred at once): each live one stops counting
# as live (out of the expiry and deadline indexes and its session's set) and gets a heartbeat,
# so GC resumes its teardown should the task be lost. Returns the ids that changed.
# KEYS: expiry, deadline, heartbeat, then each lesson's record.
# ARGV: now, the session-set key prefix, live states (comma-separated), the TEARING_DOWN state,
#       then each lesson's id, in the order of the records.
BEGIN_TEARDOWN = """
local changed = {}
for i = 4, #KEYS do
  local id = ARGV[i + 1]
  local state = redis.call('HGET', KEYS[i], 'state')
  if state and string.find(',' .. ARGV[3] .. ',', ',' .. state .. ',', 1, true) then
    local session = redis.call('HGET', KEYS[i], 'session_id')
    redis.call('HSET', KEYS[i], 'state', ARGV[4], 'updated_at', ARGV[1])
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('SREM', ARGV[2] .. session, id)
    redis.call('ZADD', KEYS[3], ARGV[1], id)
    table.insert(changed, id)
  end
end
return changed
"""

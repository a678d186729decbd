-- Give a provisioning lesson one VNI per overlay link, unique among the instance's live lessons
-- and none of those in quarantine; the same ones again when it already has them (a step
-- delivered twice). The search goes round the range from where the last one ended, so a VNI
-- freed a moment ago is the last to be taken again.
--
-- KEYS[1] record: hash, the lesson's record (its `vnis` field: a JSON list)
-- KEYS[2] used: hash, VNI -> the id of the lesson using it
-- KEYS[3] quarantine: zset, VNI -> when it may be used again
-- KEYS[4] cursor: string, where the next search starts
-- ARGV[1] id: the lesson's id
-- ARGV[2] count: how many VNIs it needs
-- ARGV[3] first: the first VNI of the range
-- ARGV[4] last: the last VNI of the range
-- ARGV[5] now: the time
-- ARGV[6] provisioning_states: the states in which a lesson may get VNIs, comma-separated
-- Returns {'allocated', JSON list}, {'gone', ''} (not provisioning) or {'exhausted', free count}.
local record = KEYS[1]
local used = KEYS[2]
local quarantine = KEYS[3]
local cursor = KEYS[4]
local id = ARGV[1]
local count = ARGV[2]
local first = ARGV[3]
local last = ARGV[4]
local now = ARGV[5]
local provisioning_states = ARGV[6]

local state = redis.call('HGET', record, 'state')
if not state or not string.find(',' .. provisioning_states .. ',', ',' .. state .. ',', 1, true) then
  return {'gone', ''}
end
local held = redis.call('HGET', record, 'vnis')
if held then
  return {'allocated', held}
end
local low, high, wanted = tonumber(first), tonumber(last), tonumber(count)
local span = high - low + 1
local at = tonumber(redis.call('GET', cursor) or first)
if at < low or at > high then
  at = low
end
-- At most `blocked` of any run of VNIs are in use or in quarantine: a run of `blocked` +
-- `wanted` holds enough free ones, and the search never walks the whole 24-bit range.
local blocked = redis.call('HLEN', used) + redis.call('ZCARD', quarantine)
local limit = math.min(span, blocked + wanted)
local taken = {}
local probes = 0
while #taken < wanted and probes < limit do
  local vni = tostring(at)
  if redis.call('HEXISTS', used, vni) == 0 then
    local until_at = redis.call('ZSCORE', quarantine, vni)
    if not until_at or tonumber(until_at) <= tonumber(now) then
      if until_at then
        redis.call('ZREM', quarantine, vni)
      end
      table.insert(taken, at)
    end
  end
  at = at + 1
  if at > high then
    at = low
  end
  probes = probes + 1
end
if #taken < wanted then
  return {'exhausted', tostring(#taken)}
end
for _, vni in ipairs(taken) do
  redis.call('HSET', used, tostring(vni), id)
end
local list = cjson.encode(taken)
if wanted == 0 then
  list = '[]'
end
redis.call('HSET', record, 'vnis', list)
redis.call('SET', cursor, tostring(at))
return {'allocated', list}

-- A named topic's low-water mark: the number at or before which its events are gone from its stream (a resume from before it
-- cannot be exact). KEYS: the topic's stream, the hub's horizon (see publish.lua). ARGV: the topic streams' retention (seconds).
-- The oldest retained entry names the topic's event before it (p; 'h' when the stream was created anew: what an expired one
-- held is at most that). No stream: nothing retained, and what an expired one held is at most the horizon a retention ago
-- (0 when the hub is younger than that: no stream of it can have expired).
local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if oldest[1] then
  local low = 0
  local fields = oldest[1][2]
  for j = 1, #fields, 2 do
    if fields[j] == 'p' or fields[j] == 'h' then
      local v = tonumber(fields[j + 1])
      if v > low then low = v end
    end
  end
  return low
end
local before = tonumber(redis.call('TIME')[1]) - tonumber(ARGV[1])
local h = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', before)) do
  local v = tonumber(string.match(m, '^%d+'))
  if v > h then h = v end
end
return h

-- A named topic's low-water mark: the number at or before which its events are gone (a resume from before it cannot be
-- exact). KEYS: the topic's stream, the hub's horizon, then the epoch's keys (sequence, epoch, since, run). ARGV: the topic
-- streams' retention (seconds), then an epoch candidate, the caller's floor and the epoch it knows (see hub.lua).
-- Nothing of an older epoch can be vouched for: the mark is at least where the epoch began (after a Redis restart, the
-- first reader settles the epoch). Then the oldest retained entry names the topic's event before it (p; 'h' when the
-- stream was created anew: what an expired one held is at most that). No stream: nothing retained, and what an expired one
-- held is at most the horizon a retention ago (0 when the hub is younger than that: no stream of it can have expired).
local _, since = settle(KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[2], tonumber(ARGV[3]), ARGV[4])
local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local low = 0
if oldest[1] then
  local fields = oldest[1][2]
  for j = 1, #fields, 2 do
    if fields[j] == 'p' or fields[j] == 'h' then
      local v = tonumber(fields[j + 1])
      if v > low then low = v end
    end
  end
else
  low = bound(KEYS[2], tonumber(redis.call('TIME')[1]) - tonumber(ARGV[1]))
end
return math.max(low, since)

-- Listening. KEYS: the hub's instances, then the epoch's keys (sequence, epoch, since, run), the horizon, then per topic its
-- listener set and its stream. ARGV: this instance, now (ms), how long a listener set lives unrefreshed (seconds), this
-- instance's channel, the batch (empty: no marker), the publish command, an epoch candidate, the caller's floor, the epoch it
-- knows (see hub.lua), the topic streams' retention (seconds), then '+' (listen) or '-' (stop) per topic. The marker,
-- published after the batch took effect, reaches this instance after every message published before it: what it carries (the
-- hub's number then) is how far the stream reads go.
-- Returns {the hub's number now, 1 when this instance was not among the instances (its first listen, or it was taken for
-- dead since: its lease was lost and it listens to everything again), the epoch's start, then per topic listened: the newest
-- number in its stream, or when it has none, minus what an expired stream of it may have held (the horizon a retention ago)}.
-- So the catch-up after the marker reads a stream only when it holds something newer than what the instance has, and knows
-- without another call where a topic's events are gone (a topic nobody publishes costs no read).
local added = redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local _, since = settle(KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[7], tonumber(ARGV[8]), ARGV[9])
local out = {0, added, since}
local expired = nil
local t = 0
for i = 7, #KEYS, 2 do
  t = t + 1
  if ARGV[t + 10] == '+' then
    redis.call('SADD', KEYS[i], ARGV[1])
    redis.call('EXPIRE', KEYS[i], ARGV[3])
    -- (A refresh without a marker needs no catch-up.)
    local last = ARGV[5] ~= '' and redis.call('XREVRANGE', KEYS[i + 1], '+', '-', 'COUNT', 1) or {}
    if ARGV[5] == '' then
      out[#out + 1] = 0
    elseif last[1] then
      out[#out + 1] = tonumber(string.match(last[1][1], '^%d+'))
    else
      if not expired then expired = bound(KEYS[6], tonumber(redis.call('TIME')[1]) - tonumber(ARGV[10])) end
      out[#out + 1] = -expired
    end
  else
    redis.call('SREM', KEYS[i], ARGV[1])
  end
end
local g = redis.call('GET', KEYS[2]) or '0'
out[1] = tonumber(g)
if ARGV[5] ~= '' then redis.call(ARGV[6], ARGV[4], '!|' .. ARGV[5] .. '|' .. g) end
return out

-- Listening. KEYS: the hub's instances, sequence, then one listener set per topic. ARGV: this instance, now (ms), how long
-- a listener set lives unrefreshed (seconds), this instance's channel, the batch (empty: no marker), the publish command,
-- then '+' (listen) or '-' (stop) per topic. The marker, published after the batch took effect, reaches this instance
-- after every message published before it: what it carries (the hub's number then) is how far the stream reads go.
-- Returns {the hub's number now, 1 when this instance was not among the instances (its first listen, or it was taken for
-- dead since: its lease was lost and it listens to everything again)}.
local added = redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
for i = 3, #KEYS do
  if ARGV[i + 4] == '+' then
    redis.call('SADD', KEYS[i], ARGV[1])
    redis.call('EXPIRE', KEYS[i], ARGV[3])
  else
    redis.call('SREM', KEYS[i], ARGV[1])
  end
end
local g = redis.call('GET', KEYS[2]) or '0'
if ARGV[5] ~= '' then redis.call(ARGV[6], ARGV[4], '!|' .. ARGV[5] .. '|' .. g) end
return {tonumber(g), added}

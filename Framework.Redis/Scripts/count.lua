-- Presence. KEYS: the topic's hash (instance → count), the hub's instances (sorted by last heartbeat). ARGV: now (ms),
-- how long a silent instance still counts (ms), this instance (its own count is the caller's, given as ARGV[4]).
-- A silent instance's field is not counted but kept (it counts again at its next heartbeat); the fields of instances gone
-- from the instances (disposed, pruned, taken for dead) are dropped as they are found.
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local total = tonumber(ARGV[4])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] ~= ARGV[3] then
    local seen = redis.call('ZSCORE', KEYS[2], all[i])
    if seen then
      if tonumber(seen) > now - ttl then total = total + tonumber(all[i + 1]) end
    else
      redis.call('HDEL', KEYS[1], all[i])
    end
  end
end
return total

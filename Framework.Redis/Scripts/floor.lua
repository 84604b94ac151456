-- KEYS: sequence. ARGV: floor (the highest number Redis ever returned to the caller). Raises a sequence found behind it (a
-- restore from an older snapshot), so no number is given twice. Returns the sequence it found.
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if floor > current then redis.call('SET', KEYS[1], floor) end
return current

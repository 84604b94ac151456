-- The hub's check (every CheckInterval, and when the connection comes back). KEYS: sequence, epoch, since, run. ARGV: epoch
-- candidate, the caller's floor (the highest number Redis ever returned to it), the epoch it knows ('' for none). Settles
-- the epoch (hub.lua): a Redis that restarted, lost its data or went behind a number it gave begins a new one. Returns
-- {epoch, sequence, since, 1 when it began now}.
local epoch, since, n, started = settle(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], tonumber(ARGV[2]), ARGV[3])
return {epoch, n, since, started and 1 or 0}

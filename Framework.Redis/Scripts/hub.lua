-- Prepended to the scripts that number events, check the hub or read a low-water mark (RedisScripts.Load): the hub's epoch
-- and its horizon, said once.
--
-- The epoch is one fact in three keys: its id, the number it began after (since: every number of an older epoch is at or
-- below it) and the Redis run it was settled under (INFO's run_id). A Redis that restarted may have lost what it had not
-- saved or come back from an older snapshot (a failover is a restart too); a Redis without the epoch lost its data; a
-- sequence behind a number it gave the caller (its floor) was restored or cleared. Each starts a new epoch whose numbers
-- begin above every number given before: the highest the sequence or the caller knows of, plus GAP for numbers other
-- instances were given that neither knows (each instance reads the sequence at every check, so it lags by a check at most).
-- A caller that never saw the hub (no floor, no known epoch) finding nothing starts at 0: a new hub numbers from 1. If that
-- was in fact a Redis that lost its data, the first instance that knew an older epoch and was given numbers starts another.
local GAP = 1000000000

-- A number as text, every digit (Lua 5.1 writes numbers with %.14g: 10^14 would be '1e+14'). Numbers passed to redis.call
-- are written whole by Redis; numbers joined into text go through this.
local function int(x)
  return string.format('%.0f', x)
end

-- '' on a Redis-compatible server whose INFO has no run_id: restarts are then not seen (only a lost epoch or sequence is).
local function run_id()
  return string.match(redis.call('INFO', 'server'), 'run_id:(%w+)') or ''
end

-- KEYS of the epoch: sequence, epoch, since, run. Returns the epoch, its since, the sequence, and whether it started now.
local function settle(seqKey, epochKey, sinceKey, runKey, candidate, floor, known)
  local epoch = redis.call('GET', epochKey)
  local stored = redis.call('GET', seqKey)
  local n = tonumber(stored or '0')
  local since = tonumber(redis.call('GET', sinceKey) or '0')
  local run = run_id()
  -- (An epoch always has its sequence beside it: one without lost it, say to eviction.)
  if epoch and stored and floor <= n and (redis.call('GET', runKey) or '') == run
      and not (since == 0 and floor > 0 and known ~= '' and known ~= epoch) then
    return epoch, since, n, false
  end
  if epoch or n > 0 or floor > 0 or known ~= '' then
    since = math.max(n, floor) + GAP
  else
    since = 0
  end
  redis.call('SET', epochKey, candidate)
  redis.call('SET', sinceKey, since)
  redis.call('SET', runKey, run)
  redis.call('SET', seqKey, since)
  return candidate, since, since, true
end

-- The hub's horizon (a sorted set: time in seconds -> the highest number given by then, members 'number:time'): the highest
-- number possibly given at or before `before` (seconds), 0 when it has nothing that old.
local function bound(horizon, before)
  local h = 0
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', horizon, '-inf', before)) do
    local v = tonumber(string.match(m, '^%d+'))
    if v > h then h = v end
  end
  return h
end


-- One script per batch of publishes (every publish that arrived while the previous batch was on its way: a burst of
-- concurrent publishes costs a few round trips, not one each). KEYS: sequence, epoch, the hub's instances (by last
-- heartbeat); then per event: its topic's stream, its topic's listeners, its idempotency key (placeholders for the default
-- topic / no key); last, the epoch's since and run keys and the horizon. ARGV: epoch candidate, floor, the hub's channel, the
-- prefix of instance channels, idempotency window (seconds), the oldest heartbeat still alive (ms), the publish command, the
-- count, the epoch the publisher knows; then per event: payload, max length, the stream's retention (seconds; empty for the
-- default topic), '1' when it has an idempotency key, the topic's expected newest number (empty: unconditional). Returns each
-- event's number, or -1 - the topic's newest number for a conditional publish refused (it moved on). A listener found dead leaves the listener
-- set and the instances (a lease: it learns at its next heartbeat, however long it stalled, and listens again).
-- Numbers are given in the hub's epoch (hub.lua): a Redis that restarted, lost its data or went behind the publisher's floor
-- (the highest number Redis ever returned to it) begins a new one above every number given before, so a number is never
-- given twice. Each stream entry records its topic's previous number (p) and dense offset (o); the first entry of a topic in
-- an epoch names the epoch's start as its previous at least, so every reader from an older epoch sees a hole (resync).
-- Each message carries its topic's previous number: a receiver that did not deliver it fills the gap from the stream.
-- The default topic goes to every instance on the hub's channel; a named topic only to its live listeners' channels.
-- Messages for one channel travel as one pub/sub message, one per line (JSON payloads have no raw newline).
-- The horizon holds one entry per 1/64 of the topic streams' retention. A topic stream expires only after a retention
-- without a publish, so every number it held is at most the horizon a retention ago: a stream created anew records that as
-- 'h' on its first entry, and a resume from before it is told (resync) instead of silently missing what expired.
local epoch, since, n = settle(KEYS[1], KEYS[2], KEYS[#KEYS - 2], KEYS[#KEYS - 1], ARGV[1], tonumber(ARGV[2]), ARGV[9])
local alive = tonumber(ARGV[6])
local horizon = KEYS[#KEYS]
local clock = nil
local retained = nil
local function now()
  if not clock then clock = tonumber(redis.call('TIME')[1]) end
  return clock
end
local lastOf = {}
local offsetOf = {}
local out = {}
local order = {}
local listeners = {}
local numbers = {}
local function send(channel, message)
  local list = out[channel]
  if not list then
    list = {}
    out[channel] = list
    order[#order + 1] = channel
  end
  list[#list + 1] = message
end
for i = 1, tonumber(ARGV[8]) do
  local k = 3 + (i - 1) * 3
  local a = 9 + (i - 1) * 5
  local first = nil
  if ARGV[a + 4] == '1' then first = redis.call('GET', KEYS[k + 3]) end
  -- The topic's previous number and its dense offset: its stream's newest entry, read once per topic and batch.
  local prev = nil
  local off = nil
  local actual = nil
  local h = nil
  if not first then
    prev = lastOf[KEYS[k + 1]]
    off = offsetOf[KEYS[k + 1]]
    actual = prev
    if ARGV[a + 3] ~= '' then retained = tonumber(ARGV[a + 3]) end
    if not prev then
      prev = 0
      off = 0
      local last = redis.call('XREVRANGE', KEYS[k + 1], '+', '-', 'COUNT', 1)
      if not last[1] and ARGV[a + 3] ~= '' then
        -- A named topic's stream created (again): what an expired one held is at most the horizon a retention ago.
        h = bound(horizon, now() - retained)
      end
      if last[1] then
        prev = tonumber(string.match(last[1][1], '^%d+'))
        local fields = last[1][2]
        for j = 1, #fields, 2 do
          if fields[j] == 'o' then off = tonumber(fields[j + 1]) end
        end
      end
      actual = prev
      -- The topic's first event in this epoch: nothing before the epoch's start can be vouched for.
      if prev < since then prev = since end
    end
  end
  if first then
    numbers[i] = tonumber(first)
  elseif ARGV[a + 5] ~= '' and tonumber(ARGV[a + 5]) ~= actual then
    -- A conditional publish whose topic moved on: nothing is published; -1 - the topic's newest number says so.
    numbers[i] = -1 - actual
  else
    n = n + 1
    numbers[i] = n
    off = off + 1
    lastOf[KEYS[k + 1]] = n
    offsetOf[KEYS[k + 1]] = off
    -- Each entry names the topic's event before it (p) and its offset (o): a reader sees a trimmed range at once.
    if h and h > 0 then
      redis.call('XADD', KEYS[k + 1], 'MAXLEN', '~', ARGV[a + 2], int(n) .. '-0', 'e', ARGV[a + 1], 'p', prev, 'o', off, 'h', h)
    else
      redis.call('XADD', KEYS[k + 1], 'MAXLEN', '~', ARGV[a + 2], int(n) .. '-0', 'e', ARGV[a + 1], 'p', prev, 'o', off)
    end
    local message = epoch .. '|' .. int(n) .. '|' .. int(prev) .. '|' .. ARGV[a + 1]
    if ARGV[a + 3] == '' then
      send(ARGV[3], message)
    else
      redis.call('EXPIRE', KEYS[k + 1], ARGV[a + 3])
      local live = listeners[KEYS[k + 2]]
      if not live then
        live = {}
        for _, instance in ipairs(redis.call('SMEMBERS', KEYS[k + 2])) do
          local seen = redis.call('ZSCORE', KEYS[3], instance)
          if seen and tonumber(seen) >= alive then
            live[#live + 1] = instance
          else
            -- Taken for dead: off the listeners and off the instances, which it finds at its next heartbeat.
            redis.call('SREM', KEYS[k + 2], instance)
            redis.call('ZREM', KEYS[3], instance)
          end
        end
        listeners[KEYS[k + 2]] = live
      end
      for _, instance in ipairs(live) do send(ARGV[4] .. instance, message) end
    end
    if ARGV[a + 4] == '1' then redis.call('SET', KEYS[k + 3], n, 'EX', ARGV[5]) end
  end
end
redis.call('SET', KEYS[1], n)
if retained then
  -- Recorded once per bucket (1/64 of the retention); a new bucket folds what is older than a retention into one entry.
  local width = math.max(1, math.floor(retained / 64))
  local bucket = now() - now() % width
  if redis.call('ZREMRANGEBYSCORE', horizon, bucket, bucket) == 0 then
    local cutoff = now() - retained
    local base = bound(horizon, cutoff)
    if base > 0 then
      redis.call('ZREMRANGEBYSCORE', horizon, '-inf', cutoff)
      redis.call('ZADD', horizon, cutoff, int(base) .. ':' .. cutoff)
    end
  end
  redis.call('ZADD', horizon, bucket, int(n) .. ':' .. bucket)
end
for _, channel in ipairs(order) do redis.call(ARGV[7], channel, table.concat(out[channel], '\n')) end
return numbers

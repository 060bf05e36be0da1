-- Applies a batch of events to Redis atomically: ingest's one call per chunk of a Kafka
-- batch (broadcaster/ingest/redis_scripts.py packs it and explains the rules). numbering.lua
-- is loaded in front of this.
--
-- Per event: dropped as a duplicate (its dedupe key exists) or stale (its game seq is not
-- above the last applied for its game and event type); otherwise, per channel operation,
-- the channel's state changes, it takes the next seq (a new epoch where its numbering is
-- gone), the publication goes to its history and is PUBLISHed. Quiet (a rebuild): state,
-- dedupe and numbering only, no history, no PUBLISH. Then the partitions' marks rise.
--
-- Returns one status per event (APPLIED, DUPLICATE, STALE), or {LOST} alone, having
-- applied nothing, when a partition's mark is missing or lower than the call demands.
--
-- KEYS, every key the script touches, in this order (n events, channels c = 1, 2, ...):
--   1                          the consumer group's marks hash (keys.applied)
--   2e, 2e + 1                 event e's dedupe key (keys.dedupe), its game's last seq for
--                              the event type (keys.last_seq)
--   2 + 2n + 3(c - 1) .. + 2   channel c's numbering, state and history
--                              (keys.channel_keys); an operation names its channel by c
-- They span many hash slots (the channels of many games, a dedupe key per event), so on a
-- Redis Cluster the script would run only with all of them in one slot (a hash tag in
-- keys.PREFIX): it is written for a single Redis. The pub/sub channels it PUBLISHes to are
-- not keys; they come in ARGV.

local APPLIED, DUPLICATE, STALE, LOST = 0, 1, 2, -1
-- How long the newest applied game seq of a game and event type is remembered.
local LAST_SEQ_TTL_MS = 86400000

-- ARGV: these (redis_lua.ApplyArgs), then EVENT_ARGS per event (redis_lua.EventArgs).
local candidate_epoch = ARGV[1]         -- the epoch of channels numbered anew in this call
local published_ms = ARGV[2]            -- ingest's wall clock when it sent the call
local history_maxlen = ARGV[3]          -- entries per history, approximately
local history_ttl_ms = ARGV[4]          -- a history without events is dropped after it
local dedupe_ttl_ms = ARGV[5]
local user_bets = tonumber(ARGV[6])     -- a user channel keeps its newest bets
local ended_ttl_ms = tonumber(ARGV[7])  -- an ended game's channel keys live that long
local user_ttl_ms = ARGV[8]             -- an account's channel keys, after its last bet
local quiet = ARGV[9] == '1'            -- a rebuild: no history, no PUBLISH
local quiet_since = tonumber(ARGV[10])  -- the rebuild's start (Redis time, ms)
local marks = cjson.decode(ARGV[11])    -- [[field, at least, up to], ...], offsets as strings
local channels = cjson.decode(ARGV[12]) -- per channel c: [pub/sub channel, name as JSON]
local event_count = tonumber(ARGV[13])
local FIRST_EVENT_ARG, EVENT_ARGS = 14, 5

local marks_key = KEYS[1]
local first_channel_key = 2 + 2 * event_count

for _, mark in ipairs(marks) do
  local held = redis.call('HGET', marks_key, mark[1])
  if not held or tonumber(held) < tonumber(mark[2]) then return {LOST} end
end

local clock = redis.call('TIME')
local now = clock[1] .. string.format('%03d', math.floor(tonumber(clock[2]) / 1000))
local renew_before = quiet and quiet_since or 0
local header_end = published_ms .. ']\n'
-- Channel number -> its epoch once this call has looked at its numbering: the channel's
-- next operations need not look again. Numbering renewed now is born now, so a rebuild
-- would not renew it twice, unless Redis's clock is behind the rebuild's start; then
-- every operation looks, as it must.
local epochs = {}
local keep_epochs = tonumber(now) >= renew_before

local statuses = {}
for e = 1, event_count do
  local at = FIRST_EVENT_ARG + (e - 1) * EVENT_ARGS
  local game_seq = ARGV[at]       -- the event's seq within its game
  local header = ARGV[at + 1]     -- the publication header between seq and published_ms
  local data = ARGV[at + 2]       -- the event, as clients receive it
  local value = ARGV[at + 3]      -- what it writes into states: a game, market or bet
  local ops = ARGV[at + 4]        -- its channel operations: [[c, op, field], ...]
  local dedupe_key, last_seq_key = KEYS[2 * e], KEYS[2 * e + 1]
  local status = APPLIED
  if redis.call('EXISTS', dedupe_key) == 1 then
    status = DUPLICATE
  elseif tonumber(game_seq) <= tonumber(redis.call('GET', last_seq_key) or '0') then
    status = STALE
  end
  if status == APPLIED then
    redis.call('SET', dedupe_key, '1', 'PX', dedupe_ttl_ms)
    redis.call('SET', last_seq_key, game_seq, 'PX', LAST_SEQ_TTL_MS)
    for _, operation in ipairs(cjson.decode(ops)) do
      local c, op, field = operation[1], operation[2], operation[3]
      local k = first_channel_key + 3 * (c - 1)
      local meta_key, state_key, history_key = KEYS[k], KEYS[k + 1], KEYS[k + 2]
      local epoch = epochs[c]
      if not epoch then
        epoch = numbering.epoch_to_publish(
          meta_key, history_key, candidate_epoch, now, renew_before)
        if keep_epochs then epochs[c] = epoch end
      end
      local seq = redis.call('HINCRBY', meta_key, 'seq', 1)
      if op == 'merge' or op == 'live' or op == 'ended' then
        local merged = value
        local old = redis.call('HGET', state_key, field)
        if old then
          local obj = cjson.decode(old)
          for name, v in pairs(cjson.decode(value)) do obj[name] = v end
          merged = cjson.encode(obj)
        end
        redis.call('HSET', state_key, field, merged)
        if op == 'live' then
          -- A game back from settled/cancelled (rare) must not lose its keys to that expiry.
          redis.call('PERSIST', meta_key)
          redis.call('PERSIST', state_key)
        end
      elseif op == 'drop' then
        redis.call('HDEL', state_key, field)
      elseif op == 'set' then
        redis.call('HSET', state_key, field, value)
      elseif op == 'push' then
        redis.call('RPUSH', state_key, value)
        redis.call('LTRIM', state_key, -user_bets, -1)
        -- One channel per account ever seen: an idle account's keys go (its next bet
        -- starts a new epoch), so Redis does not grow with every account.
        redis.call('PEXPIRE', meta_key, user_ttl_ms)
        redis.call('PEXPIRE', state_key, user_ttl_ms)
        epochs[c] = nil  -- an expiry of 0 would delete the numbering at once
      end
      local payload
      if not quiet then
        local message = '{"type":"event","channel":' .. channels[c][2] .. ',"seq":' .. seq
          .. ',"data":' .. data .. '}'
        payload = '["' .. epoch .. '",' .. seq .. header .. header_end .. message
        redis.call('XADD', history_key, 'MAXLEN', '~', history_maxlen, seq .. '-0', 'm', payload)
        redis.call('PEXPIRE', history_key, history_ttl_ms)
      end
      if op == 'ended' then
        -- Kept a while for late readers of the result, then gone; an event after that
        -- finds no numbering and starts a new epoch, as after any loss.
        redis.call('PEXPIRE', meta_key, ended_ttl_ms)
        redis.call('PEXPIRE', state_key, ended_ttl_ms)
        epochs[c] = nil
        if ended_ttl_ms < tonumber(history_ttl_ms) then
          redis.call('PEXPIRE', history_key, ended_ttl_ms)
        end
      end
      if not quiet then redis.call('PUBLISH', channels[c][1], payload) end
    end
  end
  statuses[e] = status
end

for _, mark in ipairs(marks) do
  -- Marks only rise: a late call of a worker the partition just moved away from must not
  -- pull it back below what its new owner applied.
  if tonumber(mark[3]) > tonumber(redis.call('HGET', marks_key, mark[1])) then
    redis.call('HSET', marks_key, mark[1], mark[3])
  end
end
return statuses

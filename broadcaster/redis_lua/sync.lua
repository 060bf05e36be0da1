-- A gateway's sync read of one channel (broadcaster/gateway/broker.py): its epoch, its seq
-- and either the history after a client's position (a replay) or the whole state (a
-- snapshot), read atomically, so the seq is exactly the last event they reflect. A channel
-- without numbering gets tentative numbering (numbering.lua, loaded in front of this).
--
-- Returns {'r', epoch, seq, {payload, ...}} (replay, in seq order) or
-- {'s', epoch, seq, state} (snapshot: the state hash's field/value pairs, or the list).

local meta_key = KEYS[1]     -- keys.meta: the channel's numbering
local state_key = KEYS[2]    -- keys.state
local history_key = KEYS[3]  -- keys.history

local state_kind = ARGV[1]                  -- 'list' (user channels) or 'hash'
local candidate_epoch = ARGV[2]             -- the epoch if the numbering is gone
local resume_epoch = ARGV[3]                -- the client's position: '' for none
local resume_seq = tonumber(ARGV[4])
local max_replay = tonumber(ARGV[5])        -- further back than this: a snapshot instead
local tentative_ttl_ms = ARGV[6]            -- keys.TENTATIVE_TTL_MS

local epoch = numbering.epoch_to_read(meta_key, history_key, candidate_epoch, tentative_ttl_ms)
local seq = tonumber(redis.call('HGET', meta_key, 'seq'))
local same_epoch = resume_epoch ~= '' and resume_epoch == epoch
if same_epoch and resume_seq <= seq and seq - resume_seq <= max_replay then
  if resume_seq == seq then return {'r', epoch, seq, {}} end
  local entries = redis.call('XRANGE', history_key, (resume_seq + 1) .. '-0', seq .. '-0')
  -- Trimmed or expired history would leave a gap: then a snapshot.
  if #entries == seq - resume_seq then
    local payloads = {}
    for k, entry in ipairs(entries) do payloads[k] = entry[2][2] end
    return {'r', epoch, seq, payloads}
  end
end
local state
if state_kind == 'list' then
  state = redis.call('LRANGE', state_key, 0, -1)
else
  state = redis.call('HGETALL', state_key)
end
return {'s', epoch, seq, state}

-- Channel numbering, the Lua half of the rule in broadcaster/keys.py. Loaded in front of
-- apply.lua (ingest) and sync.lua (gateways), so both follow this one copy of it.
--
-- A channel's numbering is its meta hash {epoch, seq, born | tentative}. When it is gone
-- (a new channel, or Redis lost it) the channel begins a new epoch at seq 0 with an empty
-- history: clients see the seqs restart, and history of an older numbering is never
-- replayed under the new one.
local numbering = {}

-- The epoch of a publication into the channel: its current one, or `candidate` begun now
-- (`born`: Redis time, ms) when its numbering is gone. A rebuild (`renew_before` > 0, its
-- start) also renews numbering born before it (an older Redis's, or a gateway's): those
-- seqs stood for states the rebuild changes without publishing. Numbering a gateway began
-- (tentative, with an expiry) becomes permanent, same epoch, so its subscribers carry on.
function numbering.epoch_to_publish(meta_key, history_key, candidate, born, renew_before)
  local meta = redis.call('HMGET', meta_key, 'epoch', 'born', 'tentative')
  local epoch = meta[1]
  if epoch and renew_before > 0 and tonumber(meta[2] or '0') < renew_before then
    epoch = false
  end
  if not epoch then
    epoch = candidate
    redis.call('HSET', meta_key, 'epoch', epoch, 'seq', 0, 'born', born)
    redis.call('DEL', history_key)
  end
  if meta[3] then
    redis.call('HDEL', meta_key, 'tentative')
    redis.call('PERSIST', meta_key)
  end
  return epoch
end

-- The epoch a subscriber reads the channel in: its current one, or `candidate` begun as
-- tentative numbering that expires after `ttl_ms` unless ingest publishes into it: a
-- subscriber alone (a typo, a made-up name, a game long over) creates no lasting keys.
function numbering.epoch_to_read(meta_key, history_key, candidate, ttl_ms)
  local epoch = redis.call('HGET', meta_key, 'epoch')
  if epoch then return epoch end
  redis.call('HSET', meta_key, 'epoch', candidate, 'seq', 0, 'tentative', 1)
  redis.call('PEXPIRE', meta_key, ttl_ms)
  redis.call('DEL', history_key)
  return candidate
end

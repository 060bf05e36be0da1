"""The Lua script that applies a batch of events to Redis atomically, and its argument packing.

Per event, in one atomic step: drop it if its id was seen (duplicate) or its game seq is not
newer than the last applied on the same topic (stale); else, for every channel it belongs
to, update the state, take the next seq (a new epoch, and an empty history, when the
channel's metadata is gone), append to the bounded history and PUBLISH.

Staleness is judged per (game, event type): the three topics are consumed independently, so
events of one game are ordered within a topic but may interleave differently across topics.

A game that settles or is cancelled leaves the ``games`` and ``league:`` states (the event
saying so is still published there, so clients drop it too), and its ``game:<id>`` keys get
an expiry: nothing in Redis grows with the number of games ever played.

Every call also carries the partitions its events came from, with how far Redis must already
hold each one (its mark in ``keys.applied``) and how far it holds them after the call. A mark
that is missing or lower means Redis lost what ingest applied (an empty restart, a flush, an
older copy): the call then applies nothing and answers ``[LOST]``, so nothing newer lands
on a Redis that must first be rebuilt. A *quiet* call (rebuilding) changes state, dedupe and
numbering as usual but writes no history and publishes nothing; a channel whose numbering
began before the rebuild (``born``, Redis time) gets a new epoch first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from broadcaster import keys, publication, state
from broadcaster.channels import channels_for
from inplay_events import BetEvent, Event, GameEvent, OddsEvent, to_dict

APPLIED, DUPLICATE, STALE = 0, 1, 2
# The whole answer of a call that applied nothing because Redis lost a partition's mark.
LOST = -1
# Arguments per event before its channels, and per channel.
EVENT_ARGS = 6
CHANNEL_ARGS = 5

APPLY_LUA = """
local p = ARGV[1]
local cand = ARGV[2]
local maxlen = ARGV[3]
local hist_ttl = ARGV[4]
local dd_ttl = ARGV[5]
local ucap = tonumber(ARGV[6])
local n = tonumber(ARGV[7])
local published = ARGV[8] .. ']\\n'
local ended_ttl = tonumber(ARGV[9])
local user_ttl = ARGV[10]
local quiet = ARGV[11] == '1'
local since = tonumber(ARGV[12])
local marks = ARGV[13]
local nmarks = tonumber(ARGV[14])
local first_mark = 15
for k = first_mark, first_mark + (nmarks - 1) * 3, 3 do
  local have = redis.call('HGET', marks, ARGV[k])
  if not have or tonumber(have) < tonumber(ARGV[k + 1]) then return {-1} end
end
local i = first_mark + nmarks * 3
local out = {}
local t = redis.call('TIME')
local now = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
for e = 1, n do
  local id, gk, gseq = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local hdr, data, nch = ARGV[i + 3], ARGV[i + 4], tonumber(ARGV[i + 5])
  i = i + 6
  local status = 0
  if redis.call('EXISTS', p .. 'd:' .. id) == 1 then
    status = 1
  elseif gseq <= tonumber(redis.call('GET', p .. 'g:' .. gk) or '0') then
    status = 2
  end
  if status == 0 then
    redis.call('SET', p .. 'd:' .. id, '1', 'PX', dd_ttl)
    redis.call('SET', p .. 'g:' .. gk, gseq, 'PX', 86400000)
    for c = 0, nch - 1 do
      local j = i + c * 5
      local ch, chj, op, field, value = ARGV[j], ARGV[j + 1], ARGV[j + 2], ARGV[j + 3], ARGV[j + 4]
      local mk, sk, hk = p .. 'm:' .. ch, p .. 's:' .. ch, p .. 'h:' .. ch
      local ep = redis.call('HGET', mk, 'epoch')
      -- The channel's numbering is gone (new channel, or Redis lost it): a new epoch tells
      -- clients that seqs restart, and stale history must not be replayed. A rebuild also
      -- renumbers what began before it (an older Redis's, or a gateway's): those seqs
      -- stood for states the rebuild changes without a publication.
      if not ep or (quiet and tonumber(redis.call('HGET', mk, 'born') or '0') < since) then
        ep = cand
        redis.call('HSET', mk, 'epoch', ep, 'seq', 0, 'born', now)
        redis.call('DEL', hk)
      end
      if redis.call('HDEL', mk, 'tentative') == 1 then
        -- A gateway numbered the channel for a subscriber before anything was published
        -- (with an expiry, in case nothing ever is): now it is a real channel.
        redis.call('PERSIST', mk)
      end
      local s = redis.call('HINCRBY', mk, 'seq', 1)
      if op == 'merge' or op == 'live' or op == 'ended' then
        local old = redis.call('HGET', sk, field)
        if old then
          local obj = cjson.decode(old)
          for k, v in pairs(cjson.decode(value)) do obj[k] = v end
          value = cjson.encode(obj)
        end
        redis.call('HSET', sk, field, value)
        if op == 'live' then
          -- A game back from settled/cancelled (rare) must not lose its keys to that expiry.
          redis.call('PERSIST', mk)
          redis.call('PERSIST', sk)
        end
      elseif op == 'drop' then
        redis.call('HDEL', sk, field)
      elseif op == 'set' then
        redis.call('HSET', sk, field, value)
      elseif op == 'push' then
        redis.call('RPUSH', sk, value)
        redis.call('LTRIM', sk, -ucap, -1)
        -- One channel per account ever seen: an idle account's keys go (its next bet
        -- starts a new epoch), so Redis does not grow with every account.
        redis.call('PEXPIRE', mk, user_ttl)
        redis.call('PEXPIRE', sk, user_ttl)
      end
      local payload
      if not quiet then
        local msg = '{"type":"event","channel":' .. chj .. ',"seq":' .. s
          .. ',"data":' .. data .. '}'
        payload = '["' .. ep .. '",' .. s .. hdr .. published .. msg
        redis.call('XADD', hk, 'MAXLEN', '~', maxlen, s .. '-0', 'm', payload)
        redis.call('PEXPIRE', hk, hist_ttl)
      end
      if op == 'ended' then
        -- Kept a while for late readers of the result, then gone; an event after that
        -- finds no numbering and starts a new epoch, as after any loss.
        redis.call('PEXPIRE', mk, ended_ttl)
        redis.call('PEXPIRE', sk, ended_ttl)
        if ended_ttl < tonumber(hist_ttl) then redis.call('PEXPIRE', hk, ended_ttl) end
      end
      if not quiet then redis.call('PUBLISH', p .. 'p:' .. ch, payload) end
    end
  end
  i = i + nch * 5
  out[e] = status
end
for k = first_mark, first_mark + (nmarks - 1) * 3, 3 do
  -- Marks only rise: a late call of a worker the partition just moved away from must not
  -- pull it back below what its new owner applied.
  if tonumber(ARGV[k + 2]) > tonumber(redis.call('HGET', marks, ARGV[k])) then
    redis.call('HSET', marks, ARGV[k], ARGV[k + 2])
  end
end
return out
"""


@dataclass(frozen=True, slots=True)
class ApplyConfig:
    """History bounds and retention passed to every script call."""

    history_maxlen: int
    history_ttl_ms: int
    dedupe_ttl_ms: int
    user_bets: int
    # How long a settled or cancelled game's channel keys live after it ended.
    ended_ttl_ms: int = 3_600_000
    # How long a user channel's keys live after the account's last bet.
    user_ttl_ms: int = 86_400_000


@dataclass(frozen=True, slots=True)
class Mark:
    """A partition's mark in a call: Redis must hold it at least ``at_least`` (else the call
    is refused as LOST) and holds it through ``upto`` afterwards."""

    field: str
    at_least: int
    upto: int


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def event_args(event: Event) -> list[bytes | str | int]:
    """The script arguments of one event (its channels' state ops included)."""
    assert not isinstance(event, dict)
    data = to_dict(event)
    ckey: str | None = None
    ops: list[tuple[str, str, str, bytes]] = []
    chans = channels_for(event)
    if isinstance(event, GameEvent):
        game = _dumps(state.game_object(data))
        ended = state.ended(data)
        for ch in chans:
            if ch.startswith("game:"):
                # The game channel keeps an ended game (its result lives there) for a while.
                ops.append((ch, "ended" if ended else "live", "game", game))
            else:
                ops.append((ch, "drop" if ended else "merge", event.game_id, game))
    elif isinstance(event, OddsEvent):
        ckey = event.market_id
        market = _dumps(state.market_object(data))
        ops.extend((ch, "set", "m:" + event.market_id, market) for ch in chans)
    elif isinstance(event, BetEvent):
        bet = _dumps(state.bet_object(data))
        ops.extend((ch, "push", "", bet) for ch in chans)
    game_id = getattr(event, "game_id", "")
    args: list[bytes | str | int] = [
        event.id,
        f"{game_id}:{event.type}",
        getattr(event, "seq", 0),
        publication.header_middle(event.ts, ckey),
        _dumps(data),
        len(ops),
    ]
    for ch, op, field, value in ops:
        args.extend((ch, _dumps(ch), op, field, value))
    return args


def batch_args(
    events: list[Event],
    epoch: str,
    config: ApplyConfig,
    *,
    quiet_since: int | None = None,
    marks_key: str = "",
    marks: list[Mark] | None = None,
) -> list[bytes | str | int]:
    """All arguments of one script call applying ``events`` in order, checking and then
    raising the ``marks`` in ``marks_key``. With ``quiet_since`` (a rebuild's start, Redis
    time in ms) state only: no history, no PUBLISH, numbering older than it renewed."""
    marks = marks or []
    args: list[bytes | str | int] = [
        keys.PREFIX,
        epoch,
        config.history_maxlen,
        config.history_ttl_ms,
        config.dedupe_ttl_ms,
        config.user_bets,
        len(events),
        int(time.time() * 1000),
        config.ended_ttl_ms,
        config.user_ttl_ms,
        "0" if quiet_since is None else "1",
        quiet_since or 0,
        marks_key,
        len(marks),
    ]
    for mark in marks:
        args.extend((mark.field, mark.at_least, mark.upto))
    for event in events:
        args.extend(event_args(event))
    return args

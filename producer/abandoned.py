"""What a previous run of this producer left unfinished, and the events that end it (no I/O).

A game whose newest game event is not settled or cancelled was abandoned when its feed
stopped: it is ended the way the simulator calls a game off (``producer/simulator/game.py``),
a ``cancelled`` game event voiding every market, then each market settled at its last prices.
"""

from __future__ import annotations

from collections.abc import Callable

from inplay_events import BetEvent, GameEvent, GameKind, GameStatus, MarketStatus, OddsEvent

REASON = "abandoned"
TERMINAL = frozenset({GameStatus.SETTLED, GameStatus.CANCELLED})


class Trail:
    """The newest state of every game one producer sent, folded from its events in any order.

    Newest means highest ``seq``: a game's events are ordered within a topic, but a shuffled
    replay may have sent them out of order.
    """

    def __init__(self) -> None:
        self._games: dict[str, GameEvent] = {}
        self._markets: dict[str, dict[str, OddsEvent]] = {}
        # The highest seq over all three topics: the next event of the game must top it.
        self._seq: dict[str, int] = {}

    def add(self, event: GameEvent | OddsEvent | BetEvent) -> None:
        """Fold one event in."""
        gid = event.game_id
        self._seq[gid] = max(self._seq.get(gid, 0), event.seq)
        if isinstance(event, GameEvent):
            last = self._games.get(gid)
            if last is None or event.seq > last.seq:
                self._games[gid] = event
        elif isinstance(event, OddsEvent):
            markets = self._markets.setdefault(gid, {})
            last_odds = markets.get(event.market_id)
            if last_odds is None or event.seq > last_odds.seq:
                markets[event.market_id] = event

    def unfinished(self) -> list[str]:
        """Ids of the games whose newest game event leaves them neither settled nor cancelled."""
        return sorted(gid for gid, game in self._games.items() if game.status not in TERMINAL)

    def endings(self, now_ms: int, new_id: Callable[[], str]) -> list[GameEvent | OddsEvent]:
        """The events that end every unfinished game, in the order to send them."""
        out: list[GameEvent | OddsEvent] = []
        for gid in self.unfinished():
            out.extend(self._end(gid, now_ms, new_id))
        return out

    def _end(self, gid: str, now_ms: int, new_id: Callable[[], str]) -> list[GameEvent | OddsEvent]:
        last = self._games[gid]
        markets = self._markets.get(gid, {})
        seq = self._seq[gid]
        # A void market is settled with no winner, as for a game called off before kick-off.
        results: dict[str, str | None] = dict.fromkeys(sorted(markets))
        seq += 1
        out: list[GameEvent | OddsEvent] = [
            GameEvent.model_validate(
                {
                    **last.model_dump(),
                    "id": new_id(),
                    "ts": now_ms,
                    "seq": seq,
                    "kind": GameKind.CANCELLED,
                    "status": GameStatus.CANCELLED,
                    "results": results,
                    "reason": REASON,
                }
            )
        ]
        for market_id in sorted(markets):
            odds = markets[market_id]
            if odds.status == MarketStatus.SETTLED:
                continue
            seq += 1
            out.append(
                OddsEvent.model_validate(
                    {
                        **odds.model_dump(),
                        "id": new_id(),
                        "ts": now_ms,
                        "seq": seq,
                        "status": MarketStatus.SETTLED,
                    }
                )
            )
        return out

"""Where every event gets its ``id``, ``ts`` and per-game ``seq``."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from inplay_events import BetEvent, Event, GameEvent, MarketKind, MarketStatus, OddsEvent


class Emitter:
    """Stamps events and collects them in ``out`` in emission order.

    ``ts`` is ``start_ms`` plus the logical time, so it is deterministic; ``id`` is the
    process nonce plus a counter, so a re-run with the same seed repeats content, not ids.
    """

    def __init__(self, nonce: str, start_ms: int, now_ms: Callable[[], float]) -> None:
        self.out: list[Event] = []
        self.count = 0
        self._nonce = nonce
        self._start_ms = start_ms
        self._now_ms = now_ms
        self._counter = itertools.count(1)
        self._seq: dict[str, int] = {}

    @property
    def ts(self) -> int:
        """The event time of whatever is emitted now."""
        return self._start_ms + int(self._now_ms())

    def _envelope(self, game_id: str) -> dict[str, Any]:
        seq = self._seq.get(game_id, 0) + 1
        self._seq[game_id] = seq
        return {
            "id": f"{self._nonce}-{next(self._counter):x}",
            "game_id": game_id,
            "ts": self.ts,
            "seq": seq,
        }

    def _push(self, event: Event) -> None:
        self.out.append(event)
        self.count += 1

    def game(self, game_id: str, **fields: Any) -> None:
        """Emit a game event carrying ``fields``."""
        self._push(GameEvent(**self._envelope(game_id), **fields))

    def odds(
        self,
        game_id: str,
        market_id: str,
        kind: MarketKind,
        line: float | None,
        status: MarketStatus,
        prices: dict[str, float],
    ) -> None:
        """Emit the full current state of one market."""
        self._push(
            OddsEvent(
                **self._envelope(game_id),
                market_id=market_id,
                kind=kind,
                line=line,
                status=status,
                prices=dict(prices),
            )
        )

    def bet(self, game_id: str, **fields: Any) -> None:
        """Emit an accepted bet."""
        self._push(BetEvent(**self._envelope(game_id), **fields))

    def forget(self, game_id: str) -> None:
        """Drop the seq counter of a game that will emit nothing more."""
        self._seq.pop(game_id, None)

"""A discrete-event scheduler: actions run in logical-time order, ties in scheduling order."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

Action = Callable[[], None]


class Scheduler:
    """A heap of (logical ms, tiebreak, action); ``run_next`` advances ``now`` to the earliest."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Action]] = []
        # The counter keeps equal times in scheduling order and never compares actions.
        self._tiebreak = itertools.count()
        self.now: float = 0.0

    def at(self, when_ms: float, action: Action) -> None:
        """Run ``action`` at logical time ``when_ms`` (never before ``now``)."""
        heapq.heappush(self._heap, (max(when_ms, self.now), next(self._tiebreak), action))

    def after(self, delay_ms: float, action: Action) -> None:
        """Run ``action`` ``delay_ms`` after ``now``."""
        self.at(self.now + delay_ms, action)

    def run_next(self) -> bool:
        """Run the earliest action; False when nothing is scheduled."""
        if not self._heap:
            return False
        self.now, _, action = heapq.heappop(self._heap)
        action()
        return True

    def __len__(self) -> int:
        return len(self._heap)

"""The filler budget that makes the total event rate match ``events_per_sec``."""

from __future__ import annotations

# Filler ticks come this much faster than the target rate, so that a stretch with
# nothing to tick (every market suspended) is caught up afterwards.
HEADROOM = 1.25


class RateBudget:
    """Allows a filler event (odds tick or bet) only while the stream is behind the rate.

    Game events, bet stops and reopenings count against the same budget, so the
    total (not just the filler) tracks the target once it exceeds what games emit alone.
    """

    def __init__(self, events_per_sec: float) -> None:
        if events_per_sec <= 0:
            raise ValueError("events_per_sec must be positive")
        self.events_per_sec = events_per_sec
        self.interval_ms = 1000.0 / (events_per_sec * HEADROOM)

    def allows(self, now_ms: float, emitted: int) -> bool:
        """Whether one more event at ``now_ms`` keeps the stream at or under the rate."""
        return emitted < self.events_per_sec * now_ms / 1000.0

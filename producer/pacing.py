"""When each event is due on the wall clock, and when a run is over (no I/O, no clock reads)."""

from __future__ import annotations

from dataclasses import dataclass


class Pacer:
    """Maps event time to wall time; the first event anchors both clocks."""

    def __init__(self) -> None:
        self._anchor: tuple[int, float] | None = None

    def delay(self, ts_ms: int, now_s: float) -> float:
        """Seconds to wait before the event with ``ts_ms`` is due (0 when it is due)."""
        if self._anchor is None:
            self._anchor = (ts_ms, now_s)
            return 0.0
        first_ts, first_wall = self._anchor
        return max(0.0, first_wall + (ts_ms - first_ts) / 1000.0 - now_s)


@dataclass(slots=True)
class StopRule:
    """SIM_LIMIT and SIM_DURATION_S: event time when unpaced, wall time as well when paced."""

    limit: int | None = None
    duration_s: float | None = None
    paced: bool = True
    _first_ts: int | None = None

    def done_before(self, ts_ms: int, sent: int, elapsed_s: float) -> bool:
        """Whether the run ends before sending an event with ``ts_ms``, ``sent`` events in."""
        if self.limit is not None and sent >= self.limit:
            return True
        if self.duration_s is None:
            return False
        if self._first_ts is None:
            self._first_ts = ts_ms
        if (ts_ms - self._first_ts) / 1000.0 >= self.duration_s:
            return True
        return self.paced and elapsed_s >= self.duration_s

"""Counts of produced events per topic, and the rates the throughput log reports."""

from __future__ import annotations

from collections import Counter
from typing import Any


class Throughput:
    """Per-topic counters with a window that each report resets."""

    def __init__(self, now_s: float) -> None:
        self.total: Counter[str] = Counter()
        self._window: Counter[str] = Counter()
        self._started = now_s
        self._window_started = now_s

    def add(self, topic: str) -> None:
        """Count one event sent to ``topic``."""
        self.total[topic] += 1
        self._window[topic] += 1

    @property
    def sent(self) -> int:
        """Events sent so far."""
        return self.total.total()

    def report(self, now_s: float) -> dict[str, Any]:
        """Rates since the previous report (events/s overall and per topic), then reset."""
        span = max(now_s - self._window_started, 1e-9)
        report = {
            "events_per_sec": round(self._window.total() / span, 1),
            "per_topic_per_sec": {t: round(n / span, 1) for t, n in sorted(self._window.items())},
            "total_sent": self.sent,
        }
        self._window.clear()
        self._window_started = now_s
        return report

    def summary(self, now_s: float) -> dict[str, Any]:
        """Totals and the average rate of the whole run."""
        span = max(now_s - self._started, 1e-9)
        return {
            "total_sent": self.sent,
            "per_topic": dict(sorted(self.total.items())),
            "elapsed_s": round(span, 3),
            "events_per_sec": round(self.sent / span, 1),
        }

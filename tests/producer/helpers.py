"""Shared helpers of the producer tests: run the simulator in memory."""

from __future__ import annotations

import itertools
from typing import Any

from inplay_events import Event, to_dict
from producer.simulator import SimConfig, Simulator

START_MS = 1_700_000_000_000


def simulate(n: int | None = None, until_ms: float | None = None, nonce: str = "n0", **knobs: Any):
    """The first ``n`` events (or those up to ``until_ms`` logical ms) of a simulation."""
    config = SimConfig(**{"seed": 1, "run_id": "t", "start_ms": START_MS, **knobs})
    sim = Simulator(config, id_nonce=nonce)
    if n is not None:
        return list(itertools.islice(sim, n))
    assert until_ms is not None
    return list(itertools.takewhile(lambda e: e.ts - START_MS <= until_ms, sim))


def without_id(events: list[Event]) -> list[dict[str, Any]]:
    """The events as dicts with their ``id`` removed."""
    out = []
    for e in events:
        d = to_dict(e)
        del d["id"]
        out.append(d)
    return out

"""Progress lines for `make up`: what is starting, how long it has waited, and when it is ready."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable
from typing import TextIO, TypeVar

T = TypeVar("T")


class Console:
    """Writes timestamped progress lines to the terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._t0 = time.monotonic()

    def say(self, text: str) -> None:
        """One line, prefixed with the seconds since start-up began."""
        print(f"[{time.monotonic() - self._t0:6.1f}s] {text}", file=self._stream, flush=True)

    async def wait(self, label: str, work: Awaitable[T], *, deadline: float, every: float = 5) -> T:
        """Await ``work``, saying every few seconds how long it has waited out of ``deadline``."""
        started = time.monotonic()
        task = asyncio.ensure_future(work)
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                result = task.result()
                self.say(f"{label}: ready in {time.monotonic() - started:.1f}s")
                return result
            self.say(
                f"{label}: still waiting ({time.monotonic() - started:.0f}s of {deadline:.0f}s)"
            )

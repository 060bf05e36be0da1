"""Fixtures of the `make up` tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.stack.up import Up


@pytest.fixture
def start_up() -> Iterator[Callable[..., Up]]:
    """Starts `python -m stack up` processes; kills any a failed test left running."""
    started: list[Up] = []

    def start(**env: str) -> Up:
        started.append(Up("test-up", **env))
        return started[-1]

    yield start
    for up in started:
        if up.proc.poll() is None:
            up.proc.kill()  # its children follow it (parent-death signal)
            up.proc.wait()

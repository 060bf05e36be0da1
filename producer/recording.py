"""JSONL recordings: write what was produced, read it back validated for a replay."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from inplay_events import BetEvent, Event, GameEvent, InvalidEvent, OddsEvent, decode


@dataclass(frozen=True, slots=True)
class Recorded:
    """A valid line of a recording: the event and its bytes exactly as recorded."""

    line_no: int
    event: GameEvent | OddsEvent | BetEvent
    raw: bytes


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that is not a replayable event, and why."""

    line_no: int
    reason: str


def read_recording(lines: Iterable[bytes]) -> Iterator[Recorded | BadLine]:
    """Validate each line in file order; blank lines are skipped silently."""
    for line_no, line in enumerate(lines, start=1):
        raw = line.strip()
        if not raw:
            continue
        try:
            event: Event = decode(raw)
        except InvalidEvent as exc:
            yield BadLine(line_no, str(exc))
            continue
        if not isinstance(event, GameEvent | OddsEvent | BetEvent):
            # Alive beacons belong to the producer that sent them, not to a recording.
            yield BadLine(line_no, f"type {event.type} is not replayed")
            continue
        yield Recorded(line_no, event, raw)


class Recorder:
    """Appends one JSON line per produced event to a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO = path.open("wb")

    def write(self, value: bytes) -> None:
        """Record one encoded event."""
        self._file.write(value)
        self._file.write(b"\n")

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()

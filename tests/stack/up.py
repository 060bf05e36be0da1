"""`make up` as a test drives it: its ports, its process tree, its output and its logs."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from stack.settings import ROOT

# Below Linux's ephemeral range (32768+): the many client sockets of other tests take their
# local ports from there, and one of them holding a port makes `make up` refuse it.
PORTS = {
    "INPLAY_PG_PORT": 21432,
    "INPLAY_REDIS_PORT": 21379,
    "INPLAY_KAFKA_PORT": 21092,
    "INPLAY_API_PORT": 21000,
    "INPLAY_WS_PORT": 21765,
}


def stack_env(tmp_name: str) -> dict[str, str]:
    env = {**os.environ, **{k: str(v) for k, v in PORTS.items()}}
    env["INPLAY_DATA_DIR"] = str(ROOT / ".local" / tmp_name)
    env["SIM_EVENTS_PER_SEC"] = "300"
    return env


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Up:
    """A `python -m stack up` process whose output is read line by line."""

    def __init__(self, data_name: str, **env: str) -> None:
        self.env = {**stack_env(data_name), **env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stack", "up"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if not ready:
                continue
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if match := re.search(pattern, line):
                return match
        pytest.fail(f"no line matching {pattern!r} within {timeout}s:\n{''.join(self.lines)}")

    def finish(self, timeout: float = 60) -> int:
        out, _ = self.proc.communicate(timeout=timeout)
        self.lines.append(out)
        return self.proc.returncode


def records(log: Path, message: str) -> list[dict]:
    """This log's JSON records with that message, oldest first."""
    if not log.exists():
        return []
    lines = log.read_text().splitlines()
    records = [orjson.loads(line) for line in lines if line.startswith("{")]
    return [r for r in records if r.get("message") == message]

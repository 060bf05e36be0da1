"""CPU and memory of processes, read from /proc, for the benchmarks' reports."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_kb(pid: int) -> int:
    """Resident set size of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_table() -> dict[int, tuple[float, str]]:
    """CPU seconds and command line of every process."""
    rows = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        with contextlib.suppress(Exception):
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:90]
            rows[int(d.name)] = (proc_cpu_s(int(d.name)), cmd)
    return rows


def busiest(before: dict[int, tuple[float, str]], wall: float, top: int = 8) -> list[str]:
    """The processes that used the most CPU since ``before`` (percent of one core)."""
    after = cpu_table()
    used = [(cpu - before.get(pid, (0.0, ""))[0], cmd) for pid, (cpu, cmd) in after.items()]
    used.sort(reverse=True)
    return [f"{u / wall * 100:5.1f}%  {cmd}" for u, cmd in used[:top] if u > 0.01 * wall]

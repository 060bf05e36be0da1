"""Child processes of the stack: started in their own process group, recorded in a pid file,
stopped with a signal and a deadline, and killed by the kernel if the stack itself dies."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _child_setup(user: str | None) -> Callable[[], None]:
    account = pwd.getpwnam(user) if user else None

    def setup() -> None:
        if account is not None:
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
        # After the uid change (which clears it): if `make up` dies without cleaning up, the
        # kernel stops its children rather than leaving them holding the ports.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return setup


@dataclass
class Child:
    """One running process of the stack."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    pid_file: Path
    stop_signal: signal.Signals

    @property
    def pid(self) -> int:
        """The process id (also its process group id)."""
        return self.popen.pid

    def alive(self) -> bool:
        """Whether it is still running."""
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """Signal the process group, wait up to ``timeout`` s, then kill; return the exit code."""
        if self.alive():
            _signal_group(self.pid, self.stop_signal)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.pid, signal.SIGKILL)
                self.popen.wait(5)
        # Anything it forked that ignored the signal goes too.
        _signal_group(self.pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return self.popen.returncode

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of its log, for error messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    run_dir: Path,
    log_dir: Path,
    env: dict[str, str] | None = None,
    user: str | None = None,
    cwd: Path | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
) -> Child:
    """Start ``argv`` with output to ``log_dir/name.log`` and a pid file in ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_child_setup(user),
        )
    pid_file = run_dir / f"{name}.pid"
    pid_file.write_text(f"{popen.pid} {int(stop_signal)}\n")
    return Child(name, popen, log_path, pid_file, stop_signal)


def stop_recorded(run_dir: Path, timeout: float = 15.0) -> list[str]:
    """Stop every process whose pid file is in ``run_dir`` (a stack left behind)."""
    stopped: list[str] = []
    for pid_file in sorted(run_dir.glob("*.pid")):
        try:
            pid_text, sig_text = pid_file.read_text().split()
            pid, sig = int(pid_text), signal.Signals(int(sig_text))
        except (OSError, ValueError):
            pid_file.unlink(missing_ok=True)
            continue
        if _group_alive(pid):
            _signal_group(pid, sig)
            deadline = time.monotonic() + timeout
            while _group_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            _signal_group(pid, signal.SIGKILL)
            stopped.append(pid_file.stem)
        pid_file.unlink(missing_ok=True)
    return stopped


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)

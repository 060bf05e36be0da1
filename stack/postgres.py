"""PostgreSQL 15 with TimescaleDB preloaded, in a data folder of the stack's own."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg

from stack.errors import StackError
from stack.processes import Child, spawn
from stack.settings import StackSettings

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _run_as(user: str | None) -> str | None:
    # initdb and postgres refuse to run as root.
    return user if os.geteuid() == 0 else None


def init_cluster(settings: StackSettings) -> bool:
    """Create the data folder with initdb unless it exists; return whether it was created."""
    data = settings.pg_data_dir
    if (data / "PG_VERSION").exists():
        return False
    user = _run_as(settings.pg_user)
    data.mkdir(parents=True, exist_ok=True)
    if user:
        account = pwd.getpwnam(user)
        for folder in (data.parent, data):
            os.chown(folder, account.pw_uid, account.pw_gid)
        data.chmod(0o700)
    cmd = [str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
    cmd += ["-E", "UTF8", "--locale=C", "--no-sync"]
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        raise StackError(f"initdb failed in {data}:\n{result.stdout}{result.stderr}")
    return True


def start(settings: StackSettings) -> Child:
    """Run the postmaster as a child of the stack."""
    data = settings.pg_data_dir
    argv = [
        str(PG_BIN / "postgres"),
        "-D",
        str(data),
        "-p",
        str(settings.pg_port),
        "-k",
        str(data),
        "-c",
        f"listen_addresses={settings.host}",
        "-c",
        "shared_preload_libraries=timescaledb",
        "-c",
        "timescaledb.telemetry_level=off",
        "-c",
        "max_connections=200",
    ]
    # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, then stop.
    return spawn(
        "postgres",
        argv,
        run_dir=settings.run_dir,
        log_dir=settings.log_dir,
        user=_run_as(settings.pg_user),
        stop_signal=signal.SIGINT,
    )


async def wait_ready(settings: StackSettings, child: Child, timeout: float = 60.0) -> None:
    """Wait until PostgreSQL accepts connections, then create the database if missing."""
    admin = f"postgresql://postgres@{settings.host}:{settings.pg_port}/postgres"
    deadline = time.monotonic() + timeout
    while True:
        if not child.alive():
            raise StackError(f"postgres exited:\n{child.log_tail()}")
        try:
            conn = await psycopg.AsyncConnection.connect(admin, autocommit=True, connect_timeout=2)
            break
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise StackError(f"postgres not ready after {timeout:.0f}s: {exc}") from None
            await asyncio.sleep(0.2)
    async with conn:
        cur = await conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (settings.database,)
        )
        if await cur.fetchone() is None:
            await conn.execute(f'CREATE DATABASE "{settings.database}"')

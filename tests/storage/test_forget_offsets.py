"""`python -m storage forget-offsets`: what `make up` runs after starting an empty broker."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg

from stack.settings import ROOT
from storage.migrate import migrate


def test_forget_offsets_clears_every_group(stack) -> None:
    migrate(stack.pg_dsn)
    with psycopg.connect(stack.pg_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO consumer_offsets VALUES ('g1', 'odds', 0, 500), ('g2', 'bets', 3, 7)"
            " ON CONFLICT DO NOTHING"
        )
    result = subprocess.run(
        [sys.executable, "-m", "storage", "forget-offsets"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": stack.pg_dsn},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stored offsets forgotten" in result.stdout
    with psycopg.connect(stack.pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM consumer_offsets").fetchone() == (0,)

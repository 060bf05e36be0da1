"""Migrations: applied in order once, recorded, and a no-op the second time."""

from __future__ import annotations

import subprocess
import sys

import psycopg

from stack.settings import ROOT
from storage.migrate import MIGRATIONS, migrate


def test_migrate_applies_all_then_nothing(stack) -> None:
    first = migrate(stack.pg_dsn)
    second = migrate(stack.pg_dsn)
    names = sorted(p.name for p in MIGRATIONS.glob("*.sql"))
    # Another test may have migrated this session's database first.
    assert set(first) <= set(names)
    assert second == []
    with psycopg.connect(stack.pg_dsn) as conn:
        recorded = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY 1")]
        hypertables = {
            r[0]
            for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")
        }
    assert recorded == names
    assert {"odds_ticks", "game_events", "bets"} <= hypertables


def test_migrate_cli_reports_unreachable_database() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "storage", "migrate"],
        cwd=ROOT,
        env={"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "database unreachable" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr

"""Plain SQL migrations, applied in file-name order, each recorded once it has run."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant: serialises migrators started at the same time (several replicas booting).
_LOCK_KEY = 0x1A7B1A7


def pending(conn: psycopg.Connection, folder: Path = MIGRATIONS) -> list[Path]:
    """Migration files not yet recorded as applied, in order."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    return [path for path in sorted(folder.glob("*.sql")) if path.name not in done]


def migrate(dsn: str, folder: Path = MIGRATIONS, log: logging.Logger | None = None) -> list[str]:
    """Apply pending migrations, each in its own transaction; return the names applied."""
    log = log or logging.getLogger("storage.migrate")
    applied: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            for path in pending(conn, folder):
                with conn.transaction():
                    conn.execute(path.read_text())
                    conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (path.name,))
                applied.append(path.name)
                log.info("migration applied", extra={"migration": path.name})
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    if not applied:
        log.info("migrations: nothing to apply")
    return applied

"""The local stack: install, start and stop PostgreSQL+TimescaleDB, Redis, the broker and the services."""

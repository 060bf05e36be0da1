-- TimescaleDB for the raw-event hypertables, pg_trgm for the type-ahead search.
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

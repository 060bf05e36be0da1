"""TimescaleDB: migrations and the exactly-once sink (issue: sink + REST)."""

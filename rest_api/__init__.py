"""Stateless Starlette REST API over the TimescaleDB aggregates (issue: sink + REST)."""

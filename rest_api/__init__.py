"""Stateless Starlette REST API over the TimescaleDB aggregates (issue: sink + REST)."""

__version__ = "1.0.0"

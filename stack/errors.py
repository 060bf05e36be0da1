"""Errors of the local stack."""

from __future__ import annotations


class StackError(RuntimeError):
    """A part of the local stack could not be installed, started or reached."""

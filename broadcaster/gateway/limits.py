"""Per-connection and per-process limits (pure, fed with the time)."""

from __future__ import annotations

from collections import Counter
from enum import Enum
from http import HTTPStatus


class TokenBucket:
    """``rate`` ops per second sustained, ``burst`` at once."""

    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last = now

    def allow(self, now: float) -> bool:
        """Take one token if there is one."""
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Refusal(Enum):
    """Why a handshake is refused, with the HTTP status that says it."""

    GATEWAY_FULL = (HTTPStatus.SERVICE_UNAVAILABLE, "too many connections on this gateway")
    ADDRESS_FULL = (HTTPStatus.TOO_MANY_REQUESTS, "too many connections from this address")

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        self.status = status
        self.reason = reason


class ConnectionLimits:
    """Open connections per process and per client IP."""

    def __init__(self, max_total: int, max_per_ip: int) -> None:
        self.max_total = max_total
        self.max_per_ip = max_per_ip
        self.total = 0
        self.per_ip: Counter[str] = Counter()

    def acquire(self, ip: str) -> Refusal | None:
        """Count a new connection; why not, when over a limit."""
        if self.total >= self.max_total:
            return Refusal.GATEWAY_FULL
        if self.per_ip[ip] >= self.max_per_ip:
            return Refusal.ADDRESS_FULL
        self.total += 1
        self.per_ip[ip] += 1
        return None

    def release(self, ip: str) -> None:
        """A counted connection ended."""
        self.total -= 1
        self.per_ip[ip] -= 1
        if self.per_ip[ip] <= 0:
            del self.per_ip[ip]


def origin_allowed(origin: str | None, allowed: frozenset[str] | None) -> bool:
    """Whether a handshake's Origin may connect; a missing Origin counts as ``null``."""
    if allowed is None:
        return True
    return (origin or "null") in allowed

"""Per-client rate limit: a sliding log in Redis (one sorted set per client), atomic in Lua."""

from __future__ import annotations

import logging
import secrets
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from rest_api.error_handlers import error_response
from rest_api.errors import RateLimited

log = logging.getLogger("rest_api.ratelimit")

# Redis's own clock, so every API process agrees on the window. Entries older than the window
# are dropped; at the limit the request is refused and not logged (a client hammering while
# refused does not extend its own ban). Returns {allowed, count, retry_after_us}.
SLIDING_LOG = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, count, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
return {1, count + 1, 0}
"""


def applies_to(path: str) -> bool:
    """Whether requests to ``path`` count against the limit (the API under /v1, nothing else)."""
    return path.startswith("/v1/")


def client_key(scope: Scope, trusted_hops: int = 0) -> str:
    """Who a request counts against: with ``trusted_hops`` proxies in front, the
    X-Forwarded-For entry that many from the right; with none (or no header), the peer.

    Each proxy appends the address it was connected from, so only the rightmost
    ``trusted_hops`` entries are theirs; anything left of them came from the client and can
    be made up to dodge the limit.
    """
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if trusted_hops <= 0:
        return peer
    # Repeated header lines make one list, in order (RFC 9110, section 5.3).
    hops = [
        hop.strip()
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
    ]
    if not hops:
        return peer
    # Fewer entries than proxies: an outer proxy was skipped; the leftmost entry is the
    # furthest address known.
    return hops[max(0, len(hops) - trusted_hops)] or peer


class SlidingLogLimiter:
    """At most ``limit`` requests per client in any ``window_s`` seconds."""

    def __init__(
        self, redis: Redis, limit: int, window_s: float, prefix: str = "inplay:rl:"
    ) -> None:
        self.redis = redis
        self.limit = limit
        self.window_s = window_s
        self.prefix = prefix
        self._script = redis.register_script(SLIDING_LOG)
        self._last_warning = 0.0

    async def check(self, client: str) -> None:
        """Record one request of ``client``; raises ``RateLimited`` past the limit.

        If Redis is unreachable the request is let through: losing the limiter must not
        take the API down with it (a warning is logged at most every 10 s).
        """
        try:
            allowed, _count, retry_us = await self._script(
                keys=[self.prefix + client],
                args=[int(self.window_s * 1_000_000), self.limit, secrets.token_hex(8)],
            )
        except (RedisError, OSError) as exc:
            now = time.monotonic()
            if now - self._last_warning > 10:
                self._last_warning = now
                log.warning("rate limiter unavailable, not limiting", extra={"error": str(exc)})
            return
        if not allowed:
            raise RateLimited(self.limit, self.window_s, int(retry_us) / 1_000_000)


class RateLimitMiddleware:
    """Applies the limiter to /v1 requests; health, readiness, metrics and docs are exempt."""

    def __init__(
        self, app: ASGIApp, limiter: SlidingLogLimiter | None, trusted_hops: int = 0
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.trusted_hops = trusted_hops  # 0: X-Forwarded-For is not trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse with 429 past the limit, else pass on."""
        if self.limiter is None or scope["type"] != "http" or not applies_to(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            await self.limiter.check(client_key(scope, self.trusted_hops))
        except RateLimited as exc:
            await error_response(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)

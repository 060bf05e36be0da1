"""The response micro-cache: hits within the TTL, one computation per key at a time."""

from __future__ import annotations

import asyncio

import pytest

from rest_api.errors import NotFound
from rest_api.resultcache import ResultCache


async def test_concurrent_misses_share_one_computation_and_hits_skip_it() -> None:
    cache: ResultCache[int] = ResultCache(ttl_s=60)
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return calls

    results = await asyncio.gather(*(cache.get("k", compute) for _ in range(10)))
    assert results == [1] * 10 and calls == 1
    assert await cache.get("k", compute) == 1 and calls == 1
    assert await cache.get("other", compute) == 2


async def test_errors_are_not_cached_and_expired_values_recompute() -> None:
    cache: ResultCache[int] = ResultCache(ttl_s=0.05, max_entries=1)
    attempts = 0

    async def failing() -> int:
        nonlocal attempts
        attempts += 1
        raise NotFound("gone")

    for _ in range(2):
        with pytest.raises(NotFound):
            await cache.get("k", failing)
    assert attempts == 2
    assert await cache.get("k", lambda: asyncio.sleep(0, 1)) == 1
    await asyncio.sleep(0.06)
    assert await cache.get("k", lambda: asyncio.sleep(0, 2)) == 2  # expired
    assert await cache.get("j", lambda: asyncio.sleep(0, 3)) == 3
    assert await cache.get("k", lambda: asyncio.sleep(0, 4)) == 4  # evicted (max 1)


async def test_ttl_zero_turns_it_off() -> None:
    cache: ResultCache[int] = ResultCache(ttl_s=0)
    values = iter(range(5))
    assert await cache.get("k", lambda: asyncio.sleep(0, next(values))) == 0
    assert await cache.get("k", lambda: asyncio.sleep(0, next(values))) == 1

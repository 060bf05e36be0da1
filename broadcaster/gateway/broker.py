"""Redis behind the hub: one pub/sub connection per process, and the atomic sync read.

``sync`` reads a channel's epoch, seq and either the history after a client's position
(resume) or the state (snapshot), in one script (``redis_lua/sync.lua``), so the seq it
reports is exactly the last event the state or the replay reflects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from broadcaster import keys
from broadcaster.errors import Unavailable
from broadcaster.protocol import Position
from broadcaster.redis_lua import SYNC_LUA, SyncArgs

SUBSCRIBE_TIMEOUT_S = 5.0
SYNC_CONNECTIONS = 32
# How long a read may queue for one of those connections before the op fails (unavailable).
SYNC_QUEUE_TIMEOUT_S = 20.0
# Subscribed from the start so the pub/sub connection always exists (nothing publishes yet).
CONTROL_CHANNEL = keys.PREFIX + "control"
# A resume further back than this is answered with a snapshot (cheaper than a long replay).
MAX_REPLAY = 10_000


@dataclass(slots=True)
class SyncResult:
    """What a sync read found: a replay (``recovered``) or a snapshot's raw state."""

    recovered: bool
    epoch: str
    seq: int
    # Replay: history payloads in seq order. Snapshot: the raw state (hash pairs or list).
    items: list[bytes]
    # The messages built from it, shared by every subscriber the read served.
    built: Any = None


class Broker:
    """Pub/sub subscriptions shared by all of a process's clients, plus sync reads."""

    def __init__(
        self,
        url: str,
        on_message: Callable[[str, bytes], None],
        on_resubscribed: Callable[[], None],
        log: logging.Logger,
    ) -> None:
        # Reads queue for one of a bounded set of connections: a reconnect storm of thousands
        # of clients must not open thousands of Redis connections (or fail for lack of them).
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=SYNC_CONNECTIONS, timeout=SYNC_QUEUE_TIMEOUT_S
        )
        self.redis = aioredis.Redis(connection_pool=pool)
        self._sync = self.redis.register_script(SYNC_LUA)
        # The pub/sub client must surface connection loss to the reader (no silent retry),
        # so the hub can recover what was published meanwhile.
        self._ps_client = aioredis.from_url(url, retry=Retry(NoBackoff(), 0))
        self._pubsub: PubSub = self._ps_client.pubsub()
        self._on_message = on_message
        self._on_resubscribed = on_resubscribed
        self._log = log
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None
        # redis-py's PubSub opens its connection on the first command; concurrent first
        # commands would each open one and orphan all but the last, so commands take turns.
        self._lock = asyncio.Lock()
        self.healthy = True
        self.reconnects = 0

    async def start(self) -> None:
        """Check Redis answers and start the pub/sub reader."""
        await self.redis.ping()
        async with self._lock:
            # Opens the pub/sub connection before any client asks for a channel.
            await self._pubsub.subscribe(CONTROL_CHANNEL)
        self._task = asyncio.create_task(self._reader(), name="redis-pubsub")

    async def stop(self) -> None:
        """Stop reading and close connections."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        await self._ps_client.aclose()
        await self.redis.aclose()

    async def subscribe(self, channel: str) -> None:
        """Subscribe once per process; returns when Redis confirmed it (publications flow)."""
        fut = self._confirmed.get(channel)
        if fut is None:
            fut = self._confirmed[channel] = asyncio.get_running_loop().create_future()
            try:
                async with self._lock:
                    await self._pubsub.subscribe(keys.pubsub(channel))
            except RedisError as exc:
                self._confirmed.pop(channel, None)
                raise Unavailable(f"redis: {exc}") from None
        try:
            await asyncio.wait_for(asyncio.shield(fut), SUBSCRIBE_TIMEOUT_S)
        except TimeoutError:
            raise Unavailable("redis did not confirm the subscription") from None

    async def unsubscribe(self, channel: str) -> None:
        """Drop the process's subscription (no client wants the channel any more)."""
        fut = self._confirmed.pop(channel, None)
        if fut is not None and not fut.done():
            fut.cancel()
        with contextlib.suppress(RedisError):
            async with self._lock:
                await self._pubsub.unsubscribe(keys.pubsub(channel))

    async def sync(self, channel: str, list_state: bool, resume: Position | None) -> SyncResult:
        """Epoch, seq and either the replay after ``resume`` or the state, read atomically."""
        args = SyncArgs(
            state_kind="list" if list_state else "hash",
            candidate_epoch=keys.new_epoch(),
            resume_epoch=resume.epoch if resume else "",
            resume_seq=resume.seq if resume else 0,
            max_replay=MAX_REPLAY,
            tentative_ttl_ms=keys.TENTATIVE_TTL_MS,
        )
        try:
            kind, epoch, seq, items = await self._sync(keys=keys.channel_keys(channel), args=args)
        except RedisError as exc:
            raise Unavailable(f"redis: {exc}") from None
        return SyncResult(kind == b"r", epoch.decode(), int(seq), list(items))

    async def _reader(self) -> None:
        pubsub_prefix = keys.PUBSUB_PREFIX.encode()
        prefix = len(pubsub_prefix)
        delay = 0.2
        while True:
            try:
                msg = await self._pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
                delay = 0.2
                if msg is None:
                    continue
                kind = msg["type"]
                if not msg["channel"].startswith(pubsub_prefix):
                    continue  # the control channel
                if kind == "message":
                    self._on_message(msg["channel"][prefix:].decode(), msg["data"])
                elif kind == "subscribe":
                    fut = self._confirmed.get(msg["channel"][prefix:].decode())
                    if fut is not None and not fut.done():
                        fut.set_result(None)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self.healthy = False
                self._log.warning("redis pub/sub lost, reconnecting", extra={"error": str(exc)})
                while True:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    if await self._resubscribe():
                        break
            except Exception:
                self._log.exception("pub/sub dispatch failed")
                await asyncio.sleep(0.01)  # never spin without yielding

    async def _resubscribe(self) -> bool:
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        self._pubsub = self._ps_client.pubsub()
        channels = list(self._confirmed)
        loop = asyncio.get_running_loop()
        for ch in channels:
            self._confirmed[ch] = loop.create_future()
        try:
            async with self._lock:
                names = (keys.pubsub(ch) for ch in channels)
                await self._pubsub.subscribe(CONTROL_CHANNEL, *names)
        except RedisError as exc:
            self._log.warning("resubscribe failed", extra={"error": str(exc)})
            return False
        self.healthy = True
        self.reconnects += 1
        self._log.info("redis pub/sub back", extra={"channels": len(channels)})
        # What was published while we were away is read back from history by the hub.
        self._on_resubscribed()
        return True

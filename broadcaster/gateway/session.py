"""One connection's protocol state: ops in order, subscriptions, identity, liveness."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from broadcaster import protocol
from broadcaster.channels import Kind, kind_of, user_account
from broadcaster.errors import (
    AlreadySubscribed,
    BroadcasterError,
    InternalError,
    NotSubscribed,
    RateLimited,
    TokenExpired,
    TooManySubscriptions,
    Unauthorized,
)
from broadcaster.gateway.auth import Authenticator
from broadcaster.gateway.hub import Hub
from broadcaster.gateway.limits import TokenBucket
from broadcaster.gateway.writer import Writer
from broadcaster.protocol import Auth, ClientError, Op, Ping, Subscribe, Unsubscribe

# Ops waiting behind a slow subscribe; past this a client is flooding.
MAX_QUEUED_OPS = 64
# Heartbeat positions are capped (and rotated) so a heartbeat stays small.
MAX_POSITIONS = 50


class Session:
    """Protocol v1 for one client; ops are handled strictly in arrival order."""

    def __init__(
        self,
        hub: Hub,
        writer: Writer,
        auth: Authenticator,
        *,
        max_subscriptions: int,
        rate: TokenBucket,
        close: Callable[[int, str], None],
        log: logging.Logger,
    ) -> None:
        self.hub = hub
        self.writer = writer
        self.auth = auth
        self.max_subscriptions = max_subscriptions
        self.rate = rate
        self.close = close
        self.log = log
        self.channels: dict[str, None] = {}
        self.account: str | None = None
        self.auth_expires = 0.0
        self.last_recv = asyncio.get_running_loop().time()
        self._ops: deque[Op | ClientError] = deque()
        self._task: asyncio.Task[None] | None = None
        self._rotate = 0
        self.closed = False

    # --- input ---------------------------------------------------------------------------

    def on_text(self, data: bytes | bytearray | memoryview) -> None:
        """One client frame."""
        try:
            item: Op | ClientError = protocol.parse(data)
        except ClientError as exc:
            item = exc
        if self._task is None and not isinstance(item, Subscribe):
            self._handle_now(item)
            return
        if len(self._ops) >= MAX_QUEUED_OPS:
            self._error(RateLimited("too many ops waiting; slow down"), getattr(item, "ref", None))
            return
        self._ops.append(item)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._ops and not self.closed:
                item = self._ops.popleft()
                if isinstance(item, Subscribe):
                    await self._subscribe(item)
                else:
                    self._handle_now(item)
        finally:
            self._task = None

    def _handle_now(self, item: Op | ClientError) -> None:
        if isinstance(item, ClientError):
            self._error(item.error, item.ref)
        elif isinstance(item, Ping):
            self.writer.push_bytes(protocol.pong())
        elif isinstance(item, Unsubscribe):
            self._unsubscribe(item)
        elif isinstance(item, Auth):
            self._auth(item)

    def _error(self, error: BroadcasterError, ref: protocol.Ref) -> None:
        self.writer.flusher.stats.errors += 1
        self.writer.push_bytes(protocol.error(error.code, error.message, ref))

    # --- ops -----------------------------------------------------------------------------

    async def _subscribe(self, op: Subscribe) -> None:
        loop = asyncio.get_running_loop()
        if not self.rate.allow(loop.time()):
            self._error(RateLimited("too many subscribe/unsubscribe ops per second"), op.ref)
            return
        fresh = [ch for ch in op.channels if ch not in self.channels]
        for ch in op.channels:
            if ch in self.channels:
                self._error(AlreadySubscribed(f"already subscribed to {ch}"), op.ref)
        if len(self.channels) + len(fresh) > self.max_subscriptions:
            self._error(
                TooManySubscriptions(
                    f"at most {self.max_subscriptions} subscriptions per connection"
                ),
                op.ref,
            )
            return
        for ch in fresh:
            if kind_of(ch) is Kind.USER:
                error = self._user_refusal(ch)
                if error is not None:
                    self._error(error, op.ref)
                    continue
            self.channels[ch] = None
            try:
                await self.hub.subscribe(self.writer, ch, op.resume.get(ch), op.conflate_ms)
            except BroadcasterError as exc:
                self.channels.pop(ch, None)
                self._error(exc, op.ref)
            except Exception:
                self.channels.pop(ch, None)
                self.log.exception("subscribe failed", extra={"channel": ch})
                self._error(InternalError("subscribe failed"), op.ref)
            if self.closed:
                self.hub.unsubscribe(self.writer, ch)
                return

    def _user_refusal(self, channel: str) -> BroadcasterError | None:
        if self.account is None:
            return Unauthorized(f"{channel} needs an auth op with a token for that account")
        if time.time() >= self.auth_expires:
            return TokenExpired("token expired; send auth with a fresh token")
        if user_account(channel) != self.account:
            return Unauthorized(f"the token's sub may not read {channel}")
        return None

    def _unsubscribe(self, op: Unsubscribe) -> None:
        if not self.rate.allow(asyncio.get_running_loop().time()):
            self._error(RateLimited("too many subscribe/unsubscribe ops per second"), op.ref)
            return
        for ch in op.channels:
            if ch in self.channels:
                del self.channels[ch]
                self.hub.unsubscribe(self.writer, ch)
            else:
                self._error(NotSubscribed(f"not subscribed to {ch}"), op.ref)

    def _auth(self, op: Auth) -> None:
        try:
            identity = self.auth.verify(op.token)
        except BroadcasterError as exc:
            self._error(exc, op.ref)
            return
        if identity.account != self.account:
            self._drop_user_channels()
        self.account = identity.account
        self.auth_expires = identity.expires_at

    def _drop_user_channels(self) -> None:
        for ch in [c for c in self.channels if c.startswith("user:")]:
            del self.channels[ch]
            self.hub.unsubscribe(self.writer, ch)

    # --- periodic ------------------------------------------------------------------------

    def tick(self, now: float, dead_after_s: float) -> None:
        """Heartbeat with positions; close a silent peer; end channels of expired tokens."""
        if now - self.last_recv > dead_after_s:
            self.close(4002, "no message from the client within the dead-peer timeout")
            return
        if self.account is not None and time.time() >= self.auth_expires:
            had = any(c.startswith("user:") for c in self.channels)
            self._drop_user_channels()
            self.account = None
            if had:
                self._error(TokenExpired("token expired; user channels ended"), None)
        positions: dict[str, int] = {}
        names = list(self.channels)
        if len(names) > MAX_POSITIONS:
            start = self._rotate % len(names)
            names = (names[start:] + names[:start])[:MAX_POSITIONS]
            self._rotate += MAX_POSITIONS
        for ch in names:
            pos = self.hub.position(self.writer, ch)
            if pos is not None:
                positions[ch] = pos
        self.writer.push_bytes(protocol.heartbeat(positions))

    def end(self) -> None:
        """The connection is gone: leave every channel."""
        self.closed = True
        for ch in self.channels:
            self.hub.unsubscribe(self.writer, ch)
        self.channels.clear()
        self._ops.clear()
        self.writer.close()

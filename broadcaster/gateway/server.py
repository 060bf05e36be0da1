"""The I/O edge: an asyncio protocol per TCP connection around websockets' sans-I/O core.

websockets' ``ServerProtocol`` does the handshake, frame parsing (with the size limit),
pings and the closing handshake; this module feeds it bytes, writes what it produces, and
hands text messages to the session. No task per connection: an idle connection is a few
small objects, and the hot path writes pre-built frames straight to the transport.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from http import HTTPStatus

from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

from broadcaster import protocol
from broadcaster.gateway import static
from broadcaster.gateway.auth import Authenticator
from broadcaster.gateway.hub import Hub
from broadcaster.gateway.limits import ConnectionLimits, TokenBucket, origin_allowed
from broadcaster.gateway.session import Session
from broadcaster.gateway.writer import Flusher, Writer
from broadcaster.settings import GatewaySettings

HANDSHAKE_TIMEOUT_S = 10.0


class Gateway:
    """Everything one gateway process shares: settings, hub, flusher, limits, sessions."""

    def __init__(
        self,
        settings: GatewaySettings,
        hub: Hub,
        flusher: Flusher,
        auth: Authenticator,
        log: logging.Logger,
    ) -> None:
        self.settings = settings
        self.hub = hub
        self.flusher = flusher
        self.auth = auth
        self.log = log
        self.origins = settings.origins()
        self.limits = ConnectionLimits(
            settings.gateway_max_connections, settings.gateway_max_connections_per_ip
        )
        self.connections: set[Connection] = set()
        self.server: asyncio.Server | None = None
        self.status = "live"

    async def start(self) -> int:
        """Listen; the bound port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: Connection(self),
            self.settings.gateway_host,
            self.settings.gateway_port,
            reuse_address=True,
            backlog=4096,
        )
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop accepting; close every connection with 1001 (going away)."""
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections):
            conn.close(1001, "server shutting down")
        await asyncio.sleep(0.05)

    def set_status(self, state: str) -> None:
        """Tell every connection when the feed turns stale (Redis lost) or live again."""
        if state == self.status:
            return
        self.status = state
        reason = None if state == "live" else "gateway lost its connection to Redis"
        self.log.warning("feed status", extra={"state": state})
        msg = protocol.status(state, reason)
        for conn in list(self.connections):
            if conn.writer is not None:
                conn.writer.push_bytes(msg)

    def tick(self) -> None:
        """Heartbeat every session; drop handshakes that never finished."""
        now = asyncio.get_running_loop().time()
        dead_after = self.settings.gateway_dead_peer_ms / 1000.0
        for conn in list(self.connections):
            if conn.session is not None:
                conn.session.tick(now, dead_after)
            elif now - conn.opened_at > HANDSHAKE_TIMEOUT_S and conn.transport is not None:
                conn.transport.abort()


class Connection(asyncio.Protocol):
    """One TCP connection: handshake, frames, close; the session does the protocol."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.transport: asyncio.Transport | None = None
        self.ws = ServerProtocol(max_size=gateway.settings.gateway_max_frame_bytes)
        self.session: Session | None = None
        self.writer: Writer | None = None
        self.ip = ""
        self.counted = False
        self.opened_at = 0.0
        self._abort: asyncio.TimerHandle | None = None
        self._fragments: list[bytes | bytearray | memoryview] | None = None

    # --- asyncio callbacks ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the peer; wait for the handshake."""
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport
        peer = transport.get_extra_info("peername")
        self.ip = peer[0] if peer else ""
        self.opened_at = asyncio.get_running_loop().time()
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.gateway.settings.gateway_socket_sndbuf:
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_SNDBUF, self.gateway.settings.gateway_socket_sndbuf
                )
        self.gateway.connections.add(self)

    def data_received(self, data: bytes) -> None:
        """Feed websockets; act on the handshake and on complete text messages."""
        ws = self.ws
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Request):
                self._handshake(event)
            elif isinstance(event, Frame):
                self._frame(event)
        self._send_pending()

    def eof_received(self) -> bool:
        """The client half-closed: let websockets finish, then close."""
        self.ws.receive_eof()
        self._send_pending()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """Leave every channel and free the limits slot."""
        self.gateway.connections.discard(self)
        if self._abort is not None:
            self._abort.cancel()
        if self.session is not None:
            self.session.end()
        elif self.writer is not None:
            self.writer.close()
        if self.counted:
            self.gateway.limits.release(self.ip)
            self.counted = False

    # --- websocket -----------------------------------------------------------------------

    def _handshake(self, request: Request) -> None:
        gw = self.gateway
        ws = self.ws
        path = request.path.split("?", 1)[0]
        if path == static.CLIENT_PATH:
            self._send_http(static.client_response(request))
            return
        if path != gw.settings.gateway_path:
            ws_path, js = gw.settings.gateway_path, static.CLIENT_PATH
            text = f"not found: the WebSocket path is {ws_path}, the client {js}\n"
            response = ws.reject(HTTPStatus.NOT_FOUND, text)
        elif not origin_allowed(request.headers.get("Origin"), gw.origins):
            response = ws.reject(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        else:
            refusal = gw.limits.acquire(self.ip)
            if refusal is not None:
                response = ws.reject(refusal.status, refusal.reason + "\n")
                response.headers["Retry-After"] = "5"
            else:
                self.counted = True
                response = ws.accept(request)
        if response.status_code != 101:
            self._send_http(response)
            gw.flusher.stats.refused += 1
            return
        ws.send_response(response)
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.writer = Writer(self.transport, gw.flusher, self._slow)
        s = gw.settings
        self.session = Session(
            gw.hub,
            self.writer,
            gw.auth,
            max_subscriptions=s.gateway_max_subscriptions,
            rate=TokenBucket(s.gateway_subscribe_rate, s.gateway_subscribe_burst, loop.time()),
            close=self.close,
            log=gw.log,
        )
        # The 101 response is written at the end of data_received, before any flush.
        self.writer.push_bytes(protocol.welcome(s.gateway_heartbeat_ms, gw.status))

    def _send_http(self, response: Response) -> None:
        # websockets ends the stream after any answer but a 101 (ServerProtocol.send_response
        # calls send_eof). Say so, or a keep-alive client (httpx, a browser) sends its next
        # request down a socket that is closing and gets a reset instead of an answer.
        if "Connection" in response.headers:
            del response.headers["Connection"]
        response.headers["Connection"] = "close"
        self.ws.send_response(response)

    def _frame(self, frame: Frame) -> None:
        session = self.session
        if session is None:
            return
        session.last_recv = asyncio.get_running_loop().time()
        op = frame.opcode
        if op is Opcode.TEXT or op is Opcode.BINARY:
            if not frame.fin:
                self._fragments = [frame.data]
                return
            data: bytes | bytearray | memoryview = frame.data
        elif op is Opcode.CONT and self._fragments is not None:
            self._fragments.append(frame.data)
            if not frame.fin:
                return
            data = b"".join(self._fragments)
            self._fragments = None
        else:
            return  # ping/pong/close: websockets answers them itself
        if self.ws.state is State.OPEN:
            session.on_text(data)

    def _send_pending(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for data in self.ws.data_to_send():
            if data:
                transport.write(data)
            else:
                transport.close()  # websockets' end of stream: flush what is buffered, close
        if self.ws.close_expected() and self._abort is None:
            timeout = self.gateway.settings.gateway_close_timeout_ms / 1000.0
            self._abort = asyncio.get_running_loop().call_later(timeout, transport.abort)

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake with ``code``; drop the TCP if it does not finish."""
        if self.writer is not None:
            # Flush what is queued first (unless this is a slow client), then stop writing.
            if not self.writer.closed and self.ws.state is State.OPEN:
                self.writer.flush(asyncio.get_running_loop().time(), int(time.time() * 1000))
            self.writer.close()
        if self.ws.state is State.OPEN:
            self.ws.send_close(code, reason)
            self._send_pending()
            if self._abort is None and self.transport is not None:
                timeout = self.gateway.settings.gateway_close_timeout_ms / 1000.0
                self._abort = asyncio.get_running_loop().call_later(timeout, self.transport.abort)

    def _slow(self) -> None:
        self.gateway.log.info("closing slow client", extra={"ip": self.ip})
        self.close(4008, "slow consumer: outbound buffer over its limit")

"""An efficient WebSocket load client: raw asyncio protocols, used by fanout_bench.py.

Two kinds of connection. A *probe* (one connection in ``probe_every``) splits every frame
by its header and parses each one, timing every event it receives (event ts -> receive).
A *bulk* connection only counts bytes, and asks the kernel (SO_RCVLOWAT) to wake it only
once a few KiB are waiting: the gateway's writes cost the same either way (loopback does
the receiving side's TCP work inside the sender's write), but the client process is woken
a hundred times less often, so on a 2-core box the load generator no longer starves the
server it measures. The gateway cannot tell probes from bulk connections.
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing as mp
import os
import socket
import struct
import time

import orjson
import uvloop

HANDSHAKE = (
    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def masked_text(payload: bytes) -> bytes:
    """A client text frame (clients must mask)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes((0x81, 0x80 | n)) if n < 126 else struct.pack("!BBH", 0x81, 0x80 | 126, n)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


# A bulk connection is woken once this much is waiting (a few seconds of its feed).
BULK_RCVLOWAT = 16 * 1024


class LoadProtocol(asyncio.Protocol):
    """One load connection: a probe parses every frame, a bulk one only counts bytes."""

    def __init__(self, stats: dict, probe: bool, ready: asyncio.Future[None]) -> None:
        self.stats = stats
        self.probe = probe
        self.ready = ready
        self.buf = bytearray()
        self.open = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(RuntimeError(bytes(buf[:80]).decode()))
                return
            del buf[: end + 4]
            self.open = True
            self.ready.set_result(None)
        st = self.stats
        if not self.probe:
            st["bulk_bytes"] += len(buf)
            buf.clear()
            return
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            b1 = buf[pos + 1] & 0x7F
            if b1 < 126:
                head, length = 2, b1
            elif b1 == 126:
                if n - pos < 4:
                    break
                head, length = 4, (buf[pos + 2] << 8) | buf[pos + 3]
            else:
                if n - pos < 10:
                    break
                head, length = 10, struct.unpack_from("!Q", buf, pos + 2)[0]
            if n - pos < head + length:
                break
            st["frames"] += 1
            st["bytes"] += head + length
            if buf[pos] & 0x0F == 1:
                self._parse(bytes(buf[pos + head : pos + head + length]))
            pos += head + length
        if pos:
            del buf[:pos]

    def _parse(self, payload: bytes) -> None:
        now = time.time() * 1000
        obj = orjson.loads(payload)
        st = self.stats
        for m in obj if isinstance(obj, list) else [obj]:
            kind = m.get("type")
            if kind == "event":
                st["lat"].append(now - m["data"]["ts"])
            elif kind == "error":
                key = m["code"] + ": " + m["message"]
                st["errors"][key] = st["errors"].get(key, 0) + 1

    def go_bulk(self) -> None:
        """From now on only count bytes, woken when BULK_RCVLOWAT bytes are waiting."""
        assert self.transport is not None
        sock = self.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, BULK_RCVLOWAT)

    def send(self, op: dict) -> None:
        assert self.transport is not None
        self.transport.write(masked_text(orjson.dumps(op)))


def client_worker(
    port: int,
    conns: int,
    channels: list[str],
    offset: int,
    probe_every: int,
    subscribe_at: float,
    stop_at: float,
    out: mp.Queue,
) -> None:
    """A load-client process: ``conns`` connections (one in ``probe_every`` a probe),
    subscribing at ``subscribe_at``."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stats: dict = {"frames": 0, "bytes": 0, "bulk_bytes": 0, "lat": [], "errors": {}}
        protos: list[LoadProtocol] = []
        for i in range(conns):
            ready = loop.create_future()
            probe = (offset + i) % probe_every == 0
            _, proto = await loop.create_connection(
                lambda ready=ready, probe=probe: LoadProtocol(stats, probe, ready),
                "127.0.0.1",
                port,
            )
            key = base64.b64encode(os.urandom(16)).decode()
            assert proto.transport is not None
            proto.transport.write(HANDSHAKE.format(port=port, key=key).encode())
            await ready
            if not probe:
                proto.go_bulk()
            protos.append(proto)
            if i % 200 == 199:
                await asyncio.sleep(0)
        out.put(("connected", conns))
        await asyncio.sleep(max(0.0, subscribe_at - time.time()))
        for i, proto in enumerate(protos):
            proto.send({"op": "subscribe", "channels": [channels[(offset + i) % len(channels)]]})
        await asyncio.sleep(max(0.0, stop_at - time.time()))
        out.put(("stats", {k: v for k, v in stats.items()}))

    uvloop.run(main())

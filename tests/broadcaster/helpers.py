"""Shared helpers of the broadcaster tests: events into Kafka, processes, WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import orjson
from aiokafka import AIOKafkaProducer
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from broadcaster import state
from broadcaster.channels import channels_for
from broadcaster.ingest.redis_scripts import ScriptCall
from broadcaster.redis_lua import ApplyArgs, EventArgs
from inplay_events import Event, encode, to_dict, topic_for
from producer.simulator import SimConfig, Simulator

ROOT = Path(__file__).resolve().parents[2]
JWT_SECRET = "test-secret-0123456789-abcdefghijklmnop"


def token(sub: str, expires_in: float = 300, key: str = JWT_SECRET, **claims: Any) -> str:
    """An HS256 JWT for ``sub`` (signed with the test gateways' secret unless told)."""
    return jwt.encode({"sub": sub, "exp": int(time.time() + expires_in), **claims}, key)


def free_port() -> int:
    """A TCP port nobody listens on right now (127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_id(label: str) -> str:
    """A run id (prefix of game ids) unique in this broker's life."""
    return f"{label}-{uuid.uuid4().hex[:8]}"


def simulate(n: int, rid: str, games: int = 3, accounts: int = 5, **knobs: Any) -> list[Event]:
    """``n`` simulated events of fresh games (unique ids), event time starting now."""
    config = SimConfig(
        seed=knobs.pop("seed", 7),
        run_id=rid,
        start_ms=int(time.time() * 1000),
        games=games,
        accounts=accounts,
        **knobs,
    )
    return list(itertools.islice(Simulator(config, id_nonce=rid), n))


async def produce(bootstrap: str, events: list[Event], rate: float | None = None) -> None:
    """Send events to their topics keyed by game id; ``rate`` events/s paces them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks="all")
    await producer.start()
    try:
        start = time.monotonic()
        for i, e in enumerate(events):
            await producer.send(topic_for(e.type), encode(e), key=e.game_id.encode())
            if rate and i % 10 == 9:
                delay = start + (i + 1) / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        await producer.flush()
    finally:
        await producer.stop()


def apply_args(call: ScriptCall) -> tuple[ApplyArgs, list[EventArgs]]:
    """The ARGV of an ``apply.lua`` call by name: the fixed ones, then each event's."""
    fixed, rest = len(ApplyArgs._fields), len(EventArgs._fields)
    tail = call.args[fixed:]
    assert len(tail) % rest == 0
    events = [EventArgs._make(tail[i : i + rest]) for i in range(0, len(tail), rest)]
    return ApplyArgs._make(call.args[:fixed]), events


def expected_states(events: list[Event]) -> dict[str, tuple[int, dict]]:
    """Per channel, (event count, state) built straight from the events (no Redis)."""
    out: dict[str, tuple[int, dict]] = {}
    for e in events:
        d = to_dict(e)
        for ch in channels_for(e):
            n, st = out.get(ch, (0, state.empty(ch)))
            out[ch] = (n + 1, state.apply(ch, st, d))
    return out


@dataclass
class Proc:
    """A broadcaster child process and its log file."""

    proc: asyncio.subprocess.Process
    log: Path
    port: int = 0
    metrics_port: int = 0

    def url(self) -> str:
        """The WebSocket URL of a gateway."""
        return f"ws://127.0.0.1:{self.port}/ws"

    async def stop(self) -> None:
        """SIGTERM, then wait (kill after 10 s)."""
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    def logs(self) -> list[dict]:
        """The JSON log lines so far."""
        lines = self.log.read_bytes().splitlines() if self.log.exists() else []
        return [orjson.loads(x) for x in lines if x.startswith(b"{")]


async def start_process(command: str, env: dict[str, str], log_dir: Path, name: str) -> Proc:
    """``python -m broadcaster <command>`` with ``env`` added, stdout+stderr to a log file."""
    log_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, tiny)
    log = log_dir / f"{name}.log"
    out = log.open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "broadcaster",
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=out,
        stderr=asyncio.subprocess.STDOUT,
    )
    out.close()
    return Proc(proc, log)


async def wait_port(port: int, proc: Proc, timeout: float = 20) -> None:
    """Wait until something listens on ``port`` (fail early if the process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.returncode is not None:
            raise AssertionError(f"process exited:\n{proc.log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"nothing listening on {port}:\n{proc.log.read_text()[-3000:]}")


@dataclass
class Client:
    """A real WebSocket client that collects every server message (arrays flattened)."""

    ws: ClientConnection
    messages: list[dict] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # monotonic receive time per message
    frames: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    # What broke the reader (a bad frame, a bug of the gateway); fails the test when waited on.
    error: BaseException | None = None
    _new: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task | None = None

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> Client:
        """Connect and start collecting."""
        ws = await connect(url, max_size=None, **kwargs)
        c = cls(ws)
        c._task = asyncio.create_task(c._collect())
        return c

    async def _collect(self) -> None:
        try:
            async for raw in self.ws:
                self.frames += 1
                self._received(raw)
                self._new.set()
        except ConnectionClosed:
            pass  # closed with an error code: tests read it from ws.close_code
        except Exception as exc:  # a protocol bug: surfaced by wait_for and close
            self.error = exc
        finally:
            self.closed.set()
            self._new.set()

    def _received(self, raw: str | bytes) -> None:
        """One frame: its message or array of messages, collected."""
        obj = orjson.loads(raw)
        batch = obj if isinstance(obj, list) else [obj]
        self.messages.extend(batch)
        self.arrivals.extend([time.monotonic()] * len(batch))

    def check(self) -> None:
        """Fail with what broke the reader, if anything did."""
        if self.error is not None:
            raise AssertionError(f"the client's reader failed: {self.error!r}") from self.error

    async def send(self, **op: Any) -> None:
        """Send one op."""
        await self.ws.send(orjson.dumps(op).decode())

    async def wait_for(self, pred, timeout: float = 15.0) -> dict:
        """The first collected message matching ``pred`` (waits for it)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for m in self.messages[seen:]:
                if pred(m):
                    return m
            seen = len(self.messages)
            self.check()
            left = deadline - time.monotonic()
            if left <= 0 or self.closed.is_set():
                raise AssertionError(f"no matching message; last: {self.messages[-5:]}")
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), left)

    async def wait_type(self, type_: str, timeout: float = 15.0, **fields: Any) -> dict:
        """The first message of ``type_`` whose fields equal ``fields``."""
        return await self.wait_for(
            lambda m: m.get("type") == type_ and all(m.get(k) == v for k, v in fields.items()),
            timeout,
        )

    def of(self, channel: str) -> list[dict]:
        """Messages of one channel, in arrival order."""
        return [m for m in self.messages if m.get("channel") == channel]

    async def close(self) -> None:
        """Close the connection."""
        await self.ws.close()
        if self._task:
            await self._task
        self.check()


def build_state(messages: list[dict], channel: str) -> tuple[dict | None, int, str | None]:
    """(state, last seq, epoch) a client holds after snapshot + deltas; checks continuity."""
    st: dict | None = None
    seq = None
    epoch = None
    for m in messages:
        if m.get("channel") != channel:
            continue
        t = m["type"]
        if t == "subscribed":
            epoch = m["epoch"]
            seq = m["seq"]
        elif t == "snapshot":
            assert m["seq"] == seq
            st = m["data"]
        elif t == "event":
            assert seq is not None and m["seq"] == seq + 1, f"gap or dup: {seq} -> {m['seq']}"
            seq = m["seq"]
            if st is not None:
                st = state.apply(channel, st, m["data"])
    return st, seq or 0, epoch


def event_seqs(messages: list[dict], channel: str) -> list[int]:
    """Seqs of the ``event`` messages of one channel."""
    return [m["seq"] for m in messages if m.get("channel") == channel and m["type"] == "event"]


def by_channel(events: list[Event]) -> dict[str, list[Event]]:
    """The events of each channel, in order."""
    out: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        for ch in channels_for(e):
            out[ch].append(e)
    return out


class RawClient:
    """A WebSocket client on a plain socket (websockets' sans-I/O core) that can stop reading.

    A small receive buffer makes a client that does not read look slow to the server quickly.
    """

    def __init__(self, port: int, rcvbuf: int = 4096) -> None:
        self.port = port
        self.rcvbuf = rcvbuf
        self.messages: list[dict] = []
        self.close_code: int | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.proto: Any = None

    async def connect(self) -> None:
        """Handshake; afterwards nothing is read until ``read`` is called."""
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.port))
        # A small StreamReader limit keeps asyncio from buffering much on our side either.
        self.reader, self.writer = await asyncio.open_connection(sock=sock, limit=4096)
        self.proto = ClientProtocol(parse_uri(f"ws://127.0.0.1:{self.port}/ws"), max_size=None)
        self.proto.send_request(self.proto.connect())
        self._flush()
        while self.proto.handshake_exc is None and not self.messages:
            await self.read(1024)
        assert self.proto.handshake_exc is None, self.proto.handshake_exc

    def _flush(self) -> None:
        assert self.writer is not None
        for data in self.proto.data_to_send():
            if data:
                self.writer.write(data)

    async def send(self, **op: Any) -> None:
        """Send one op."""
        self.proto.send_text(orjson.dumps(op))
        self._flush()

    async def read(self, n: int = 65536) -> bool:
        """Read up to ``n`` bytes and parse what completed; False at end of stream."""
        from websockets.frames import Frame, Opcode

        assert self.reader is not None
        data = await self.reader.read(n)
        if not data:
            self.proto.receive_eof()
            self.close_code = self.proto.close_code
            return False
        self.proto.receive_data(data)
        for ev in self.proto.events_received():
            if isinstance(ev, Frame) and ev.opcode is Opcode.TEXT:
                obj = orjson.loads(ev.data)
                self.messages.extend(obj if isinstance(obj, list) else [obj])
            elif isinstance(ev, Frame) and ev.opcode is Opcode.CLOSE:
                self.close_code = self.proto.close_code
            elif not isinstance(ev, Frame):
                self.messages.append({"type": "_handshake"})
        self._flush()
        return True

    async def drain(self, timeout: float = 20) -> None:
        """Read until the server closes."""
        async with asyncio.timeout(timeout):
            while await self.read():
                pass

    def close(self) -> None:
        """Drop the TCP connection."""
        if self.writer is not None:
            self.writer.close()

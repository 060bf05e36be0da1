"""Fan-out benchmark: deliveries per gateway CPU-second, memory per idle connection, e2e latency.

    .venv/bin/python benchmarks/fanout_bench.py [--connections 2000] [--rate 1000] ...

Starts its own Redis and Kafka-protocol broker (ports and data under .local/bench), one
ingest worker, one gateway (pinned to one core unless --no-pin) and the paced simulator,
then connects an efficient load client: raw asyncio protocols that do the WebSocket
handshake by hand, split frames by their headers without decoding them, and parse JSON only
in sampled frames (to time event ts -> receive). Deliveries are the gateway's own
``messages_out`` counter; CPU is the gateway process's utime+stime from /proc.

Phases: (1) connect every client without subscribing, measure the gateway's RSS growth
per connection; (2) each client subscribes to one game channel (round robin) and the feed
runs for --seconds; the figures are printed at the end. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import multiprocessing as mp
import os
import random
import statistics
import struct
import sys
import time
import urllib.request
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stack import broker, redis_server  # noqa: E402
from stack.processes import Child, spawn  # noqa: E402
from stack.settings import StackSettings  # noqa: E402

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


class LoadProtocol(asyncio.Protocol):
    """One load connection: counts frames and bytes, parses sampled frames only."""

    def __init__(self, stats: dict, sample_every: int, ready: asyncio.Future[None]) -> None:
        self.stats = stats
        self.sample_every = sample_every
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
            if st["frames"] % self.sample_every == 0 and buf[pos] & 0x0F == 1:
                self._sample(bytes(buf[pos + head : pos + head + length]))
            elif length < 300 and b'"error"' in buf[pos + head : pos + head + length]:
                err = orjson.loads(bytes(buf[pos + head : pos + head + length]))
                for m in err if isinstance(err, list) else [err]:
                    if m.get("type") == "error":
                        st["errors"][m["code"] + ": " + m["message"]] = (
                            st["errors"].get(m["code"] + ": " + m["message"], 0) + 1
                        )
            pos += head + length
        if pos:
            del buf[:pos]

    def _sample(self, payload: bytes) -> None:
        now = time.time() * 1000
        obj = orjson.loads(payload)
        for m in obj if isinstance(obj, list) else [obj]:
            if m.get("type") == "event":
                self.stats["lat"].append(now - m["data"]["ts"])

    def send(self, op: dict) -> None:
        assert self.transport is not None
        self.transport.write(masked_text(orjson.dumps(op)))


def client_worker(
    port: int,
    conns: int,
    channels: list[str],
    offset: int,
    sample_every: int,
    subscribe_at: float,
    stop_at: float,
    out: mp.Queue,
) -> None:
    """A load-client process: ``conns`` connections, subscribe at ``subscribe_at``."""
    import uvloop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stats: dict = {"frames": 0, "bytes": 0, "lat": [], "errors": {}}
        protos: list[LoadProtocol] = []
        for i in range(conns):
            ready = loop.create_future()
            _, proto = await loop.create_connection(
                lambda ready=ready: LoadProtocol(stats, sample_every, ready), "127.0.0.1", port
            )
            key = base64.b64encode(os.urandom(16)).decode()
            assert proto.transport is not None
            proto.transport.write(HANDSHAKE.format(port=port, key=key).encode())
            await ready
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


def direct_feeder(redis_url: str, rate: float, games: int, run_id: str, stop_at: float) -> None:
    """Apply paced simulated events to Redis with ingest's script, no Kafka (--direct)."""
    import redis.asyncio as aioredis
    import uvloop

    from broadcaster.ingest.consumer import new_epoch
    from broadcaster.ingest.redis_scripts import APPLY_LUA, ApplyConfig, batch_args
    from producer.simulator import SimConfig, Simulator

    async def main() -> None:
        r = aioredis.from_url(redis_url)
        script = r.register_script(APPLY_LUA)
        config = ApplyConfig(1000, 600_000, 3_600_000, 50)
        start_ms = int(time.time() * 1000)
        sim = Simulator(SimConfig(seed=1, run_id=run_id, start_ms=start_ms, games=games,
                                  events_per_sec=rate), id_nonce=run_id)  # fmt: skip
        batch: list = []
        flushed = time.time()
        for event in sim:
            now = time.time()
            if now > stop_at:
                break
            # Like ingest: a script call per few ms of events (or per 200 of them).
            if batch and (event.ts / 1000 - now > 0.001 or now - flushed > 0.005
                          or len(batch) >= 200):  # fmt: skip
                await script(keys=[], args=batch_args(batch, new_epoch(), config))
                batch = []
                flushed = time.time()
            delay = event.ts / 1000 - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            batch.append(event.model_copy(update={"ts": int(time.time() * 1000)}))
        await r.aclose()

    uvloop.run(main())


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_kb(pid: int) -> int:
    """Resident set size of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def histogram_quantiles(port: int, name: str, qs: tuple[float, ...]) -> list[float]:
    """Quantiles (upper bucket bounds, ms) of a Prometheus histogram on /metrics."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    buckets = []
    for line in body.splitlines():
        if line.startswith(name + "_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(le), float(line.rsplit(" ", 1)[1])))
    total = buckets[-1][1] if buckets else 0
    out = []
    for q in qs:
        bound = next((le for le, n in buckets if total and n >= q * total), float("nan"))
        out.append(bound * 1000)
    return out


def metric(port: int, name: str) -> float:
    """One value of the gateway's /metrics."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise KeyError(name)


def cpu_table() -> dict[int, tuple[float, str]]:
    """CPU seconds and command line of every process."""
    rows = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        with contextlib.suppress(Exception):
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:90]
            rows[int(d.name)] = (proc_cpu_s(int(d.name)), cmd)
    return rows


def busiest(before: dict[int, tuple[float, str]], wall: float, top: int = 8) -> list[str]:
    """The processes that used the most CPU since ``before`` (percent of one core)."""
    after = cpu_table()
    used = [(cpu - before.get(pid, (0.0, ""))[0], cmd) for pid, (cpu, cmd) in after.items()]
    used.sort(reverse=True)
    return [f"{u / wall * 100:5.1f}%  {cmd}" for u, cmd in used[:top] if u > 0.01 * wall]


def main() -> int:
    """Run the benchmark; print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=1000.0, help="events/s into Kafka")
    ap.add_argument("--games", type=int, default=20, help="simulated games (= game channels)")
    ap.add_argument("--seconds", type=float, default=30.0, help="measured load duration")
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--client-procs", type=int, default=2)
    ap.add_argument("--sample-every", type=int, default=50, help="parse 1 frame in N")
    ap.add_argument(
        "--direct",
        action="store_true",
        help="skip Kafka: a paced feeder in a child process applies simulated events to "
        "Redis with ingest's own script (isolates the gateway's share of the latency)",
    )
    ap.add_argument("--profile", metavar="FILE", help="run the gateway under cProfile")
    ap.add_argument("--coalesce-ms", type=float, default=None, help="GATEWAY_COALESCE_MS")
    ap.add_argument(
        "--pin",
        action="store_true",
        help="pin the gateway to CPU 0 (on a shared box other processes land there too, "
        "which then shows up as latency)",
    )
    ap.add_argument("--redis-port", type=int, default=36379)
    ap.add_argument("--kafka-port", type=int, default=39092)
    ap.add_argument("--ws-port", type=int, default=38765)
    ap.add_argument("--metrics-port", type=int, default=38766)
    args = ap.parse_args()

    settings = StackSettings(
        data_dir=ROOT / ".local" / "bench",
        redis_port=args.redis_port,
        kafka_port=args.kafka_port,
        partitions=4,
    )
    py = sys.executable
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
        "REDIS_URL": settings.redis_url,
        "GATEWAY_PORT": str(args.ws_port),
        "GATEWAY_METRICS_PORT": str(args.metrics_port),
        "GATEWAY_DEAD_PEER_MS": "600000",
        "GATEWAY_HEARTBEAT_MS": "10000",
        "GATEWAY_MAX_CONNECTIONS_PER_IP": str(args.connections + 100),
        "LOG_LEVEL": "INFO",
    }
    if args.coalesce_ms is not None:
        env["GATEWAY_COALESCE_MS"] = str(args.coalesce_ms)
    children: list[Child] = []

    def start(name: str, argv: list[str], extra: dict[str, str] | None = None) -> Child:
        child = spawn(
            name,
            argv,
            run_dir=settings.run_dir,
            log_dir=settings.log_dir,
            env={**env, **(extra or {})},
            cwd=ROOT,
        )
        children.append(child)
        return child

    try:
        children.append(redis_server.start(settings))
        asyncio.run(redis_server.wait_ready(settings, children[-1]))
        if not args.direct:
            children.append(broker.start(settings))
            asyncio.run(broker.wait_ready_and_create_topics(settings, children[-1]))
            start("ingest", [py, "-m", "broadcaster", "ingest"])
        profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        gw = start("gateway", [py, *profile, "-m", "broadcaster", "gateway"])
        if args.pin:
            os.sched_setaffinity(gw.pid, {0})
        for _ in range(100):
            with contextlib.suppress(Exception):
                metric(args.metrics_port, "inplay_gateway_connections")
                break
            time.sleep(0.1)
        run_id = f"bench{random.randrange(10**6)}"
        games = [f"game:{run_id}-g{i:06d}" for i in range(1, args.games + 1)]
        rss0 = proc_rss_kb(gw.pid)

        # Phase 1: idle connections.
        per = args.connections // args.client_procs
        t0 = time.time()
        out: mp.Queue = mp.Queue()
        # Phase timing: connect, settle, measure RSS, then subscribe and run the feed.
        connect_budget = 30.0
        subscribe_at = t0 + connect_budget
        stop_at = subscribe_at + args.warmup + args.seconds + 2
        workers = [
            mp.Process(
                target=client_worker,
                args=(args.ws_port, per, games, i * per, args.sample_every, subscribe_at,
                      stop_at, out),
            )
            for i in range(args.client_procs)
        ]  # fmt: skip
        for w in workers:
            w.start()
        connected = 0
        while connected < per * args.client_procs:
            kind, n = out.get(timeout=120)
            connected += n
        time.sleep(2)
        rss1 = proc_rss_kb(gw.pid)
        held = metric(args.metrics_port, "inplay_gateway_connections")
        idle_kb = (rss1 - rss0) / max(1, connected)
        time.sleep(max(0.0, subscribe_at - time.time() - 1))
        if args.direct:
            feeder = mp.Process(
                target=direct_feeder,
                args=(settings.redis_url, args.rate, args.games, run_id, stop_at),
            )
            feeder.start()
        else:
            start(
                "producer",
                [py, "-m", "producer"],
                {
                    "SIM_EVENTS_PER_SEC": str(args.rate),
                    "SIM_GAMES": str(args.games),
                    "SIM_RUN_ID": run_id,
                    "SIM_PACE": "true",
                    "SIM_SEED": "1",
                },
            )
        time.sleep(max(0.0, subscribe_at + args.warmup - time.time()))
        m0 = metric(args.metrics_port, "inplay_gateway_messages_out_total")
        f0 = metric(args.metrics_port, "inplay_gateway_frames_out_total")
        p0 = metric(args.metrics_port, "inplay_gateway_publications_in_total")
        c0 = proc_cpu_s(gw.pid)
        table0 = cpu_table()
        w0 = time.time()
        time.sleep(args.seconds)
        m1 = metric(args.metrics_port, "inplay_gateway_messages_out_total")
        f1 = metric(args.metrics_port, "inplay_gateway_frames_out_total")
        p1 = metric(args.metrics_port, "inplay_gateway_publications_in_total")
        c1 = proc_cpu_s(gw.pid)
        w1 = time.time()
        rss2 = proc_rss_kb(gw.pid)
        channels = metric(args.metrics_port, "inplay_gateway_channels")
        errors = metric(args.metrics_port, "inplay_gateway_errors_sent_total")
        subs = metric(args.metrics_port, "inplay_gateway_subscriptions")
        gw_p50, gw_p99 = histogram_quantiles(
            args.metrics_port, "inplay_gateway_publish_to_send_seconds", (0.5, 0.99)
        )
        others = busiest(table0, w1 - w0)
        lat: list[float] = []
        frames = 0
        for _ in workers:
            kind, st = out.get(timeout=120)
            while kind != "stats":
                kind, st = out.get(timeout=120)
            lat += st["lat"]
            if st["errors"]:
                print("  errors seen by clients:", st["errors"])
            frames += st["frames"]
        for w in workers:
            w.join(10)
        cpu = c1 - c0
        wall = w1 - w0
        deliveries = m1 - m0
        q = statistics.quantiles(lat, n=100) if len(lat) > 10 else [float("nan")] * 99
        print("fan-out benchmark (gateway pinned to CPU 0)" if args.pin else
              "fan-out benchmark (gateway not pinned)")  # fmt: skip
        print(f"  connections held            {held:,.0f} (of {args.connections:,}); "
              f"{subs:,.0f} subscriptions, {errors:,.0f} errors sent")  # fmt: skip
        print(f"  memory per idle connection  {idle_kb:,.1f} KiB  (gateway RSS {rss0:,} -> "
              f"{rss1:,} KiB; {rss2:,} KiB under load)")  # fmt: skip
        print(f"  feed                        {args.rate:,.0f} events/s, {args.games} games, "
              f"each connection in one game channel"
              + (" (--direct: no Kafka, events applied to Redis as ingest does)"
                 if args.direct else " (producer -> Kafka -> ingest -> Redis)"))  # fmt: skip
        print(f"  publications into gateway   {(p1 - p0) / wall:,.0f}/s in {channels:.0f} channels")
        print(
            f"  deliveries                  {deliveries / wall:,.0f}/s in {wall:.1f} s "
            f"({(f1 - f0) / wall:,.0f} frames/s, {deliveries / max(1, f1 - f0):.2f} msg/frame)"
        )
        print(f"  gateway CPU                 {cpu / wall * 100:.0f}% of one core")
        print(f"  deliveries per CPU-second   {deliveries / max(cpu, 1e-9):,.0f}")
        print(f"  feed-to-client latency      p50 {q[49]:.1f} ms  p99 {q[98]:.1f} ms  "
              f"({len(lat):,} sampled events)")  # fmt: skip
        print(f"  of which Redis -> written   p50 <= {gw_p50:.0f} ms  p99 <= {gw_p99:.0f} ms "
              "(gateway histogram bucket bounds, whole run)")  # fmt: skip
        print("  CPU by process during the measured window (whole box, 2 cores = 200%):")
        for line in others:
            print("    " + line)
        return 0
    finally:
        for child in reversed(children):
            child.stop()


if __name__ == "__main__":
    sys.exit(main())

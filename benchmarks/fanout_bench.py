"""Fan-out benchmark: deliveries per gateway CPU-second, memory per idle connection, e2e latency.

    .venv/bin/python benchmarks/fanout_bench.py [--connections 2000] [--rate 1000] ...

Starts its own Redis and Apache Kafka (ports and data under .local/bench), one
ingest worker, --gateways gateway processes (one by default) and the paced simulator,
then connects an efficient load client (ws_load_client.py): raw asyncio protocols that do
the WebSocket handshake by hand; one connection in --probe-every parses every frame and
times every event it receives (event ts -> receive), the others only count bytes.
Deliveries are the gateway's own ``messages_out`` counter; CPU is the gateway process's
utime+stime from /proc.

Phases: (1) connect every client without subscribing, measure the gateway's RSS growth
per connection; (2) each client subscribes to one game channel (round robin) and the feed
runs for --seconds; the figures are printed at the end. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway_metrics import histogram_counts, histogram_quantiles, metric, total  # noqa: E402
from procstats import busiest, cpu_table, proc_cpu_s, proc_rss_kb  # noqa: E402
from ws_load_client import client_worker  # noqa: E402

from stack import broker, redis_server  # noqa: E402
from stack.processes import Child, spawn  # noqa: E402
from stack.settings import StackSettings  # noqa: E402


def direct_feeder(redis_url: str, rate: float, games: int, run_id: str, stop_at: float) -> None:
    """Apply paced simulated events to Redis with ingest's script, no Kafka (--direct)."""
    import redis.asyncio as aioredis
    import uvloop

    from broadcaster.ingest.redis_scripts import ApplyConfig, batch_call
    from broadcaster.keys import new_epoch
    from broadcaster.redis_lua import APPLY_LUA
    from producer.simulator import SimConfig, Simulator

    async def main() -> None:
        r = aioredis.from_url(redis_url)
        script = r.register_script(APPLY_LUA)
        config = ApplyConfig(1000, 600_000, 3_600_000, 50)
        start_ms = int(time.time() * 1000)
        sim = Simulator(
            SimConfig(seed=1, run_id=run_id, start_ms=start_ms, games=games, events_per_sec=rate),
            id_nonce=run_id,
        )
        batch: list = []
        flushed = time.time()
        for event in sim:
            now = time.time()
            if now > stop_at:
                break
            # Like ingest: a script call per few ms of events (or per 200 of them).
            if batch and (
                event.ts / 1000 - now > 0.001 or now - flushed > 0.005 or len(batch) >= 200
            ):
                call = batch_call(batch, new_epoch(), config)
                await script(keys=call.keys, args=call.args)
                batch = []
                flushed = time.time()
            delay = event.ts / 1000 - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            batch.append(event.model_copy(update={"ts": int(time.time() * 1000)}))
        await r.aclose()

    uvloop.run(main())


def ingest_lags(log: Path, windows: int) -> list[tuple[int, int]]:
    """(p50, p99) of event time -> applied in Redis from ingest's last report lines."""
    found = []
    with contextlib.suppress(OSError):
        for line in log.read_text().splitlines():
            if '"lag_ms_p99"' in line:
                rec = json.loads(line)
                found.append((rec["lag_ms_p50"], rec["lag_ms_p99"]))
    return found[-windows:] if windows else []


def main() -> int:
    """Run the benchmark; print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=1000.0, help="events/s into Kafka")
    ap.add_argument("--games", type=int, default=20, help="simulated games (= game channels)")
    ap.add_argument("--seconds", type=float, default=30.0, help="measured load duration")
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--client-procs", type=int, default=2)
    ap.add_argument(
        "--gateways",
        type=int,
        default=1,
        help="gateway processes (consecutive ports); load-client process i connects to "
        "gateway i mod N",
    )
    ap.add_argument(
        "--probe-every",
        type=int,
        default=20,
        help="one connection in N parses every frame and times its events",
    )
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
        help="pin gateways to CPU 0, 1, 0... (on a shared box other processes land there too, "
        "which then shows up as latency)",
    )
    ap.add_argument(
        "--kafka-bootstrap",
        metavar="HOST:PORT",
        help="use this Kafka (e.g. docker compose's) instead of starting one",
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
    # Each run starts from empty topics and an empty Redis (both keep their data otherwise).
    shutil.rmtree(broker.kafka_dir(settings), ignore_errors=True)
    shutil.rmtree(redis_server.folder(settings), ignore_errors=True)
    py = sys.executable
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": args.kafka_bootstrap or settings.kafka_bootstrap,
        "REDIS_URL": settings.redis_url,
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
            if args.kafka_bootstrap:
                asyncio.run(
                    broker.wait_ready_and_create_topics(settings, None, 60, args.kafka_bootstrap)
                )
            else:
                children.append(broker.start(settings))
                asyncio.run(broker.wait_ready_and_create_topics(settings, children[-1]))
            start("ingest", [py, "-m", "broadcaster", "ingest"])
        profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        ws_ports = [args.ws_port + 2 * i for i in range(args.gateways)]
        mports = [port + 1 for port in ws_ports]
        gws = [
            start(
                f"gateway{i}" if i else "gateway",
                [py, *(profile if not i else []), "-m", "broadcaster", "gateway"],
                {"GATEWAY_PORT": str(port), "GATEWAY_METRICS_PORT": str(port + 1)},
            )
            for i, port in enumerate(ws_ports)
        ]
        if args.pin:
            for i, gw in enumerate(gws):
                os.sched_setaffinity(gw.pid, {i % 2})
        for port in mports:
            for _ in range(100):
                with contextlib.suppress(Exception):
                    metric(port, "inplay_gateway_connections")
                    break
                time.sleep(0.1)
        run_id = f"bench{random.randrange(10**6)}"
        games = [f"game:{run_id}-g{i:06d}" for i in range(1, args.games + 1)]
        rss0 = sum(proc_rss_kb(gw.pid) for gw in gws)

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
                args=(
                    ws_ports[i % len(ws_ports)],
                    per,
                    games,
                    i * per,
                    args.probe_every,
                    subscribe_at,
                    stop_at,
                    out,
                ),
            )
            for i in range(args.client_procs)
        ]
        for w in workers:
            w.start()
        connected = 0
        while connected < per * args.client_procs:
            kind, n = out.get(timeout=120)
            connected += n
        time.sleep(2)
        rss1 = sum(proc_rss_kb(gw.pid) for gw in gws)
        held = total(mports, "inplay_gateway_connections")
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
        m0 = total(mports, "inplay_gateway_messages_out_total")
        f0 = total(mports, "inplay_gateway_frames_out_total")
        p0 = total(mports, "inplay_gateway_publications_in_total")
        c0 = sum(proc_cpu_s(gw.pid) for gw in gws)
        kafka = next((c for c in children if c.name == "kafka"), None)
        k0 = proc_cpu_s(kafka.pid) if kafka else 0.0
        h_feed0 = histogram_counts(mports, "inplay_gateway_feed_to_send_seconds")
        h_gw0 = histogram_counts(mports, "inplay_gateway_publish_to_send_seconds")
        table0 = cpu_table()
        w0 = time.time()
        time.sleep(args.seconds)
        m1 = total(mports, "inplay_gateway_messages_out_total")
        f1 = total(mports, "inplay_gateway_frames_out_total")
        p1 = total(mports, "inplay_gateway_publications_in_total")
        c1 = sum(proc_cpu_s(gw.pid) for gw in gws)
        k1 = proc_cpu_s(kafka.pid) if kafka else 0.0
        w1 = time.time()
        h_feed1 = histogram_counts(mports, "inplay_gateway_feed_to_send_seconds")
        h_gw1 = histogram_counts(mports, "inplay_gateway_publish_to_send_seconds")
        rss2 = sum(proc_rss_kb(gw.pid) for gw in gws)
        channels = total(mports, "inplay_gateway_channels")
        errors = total(mports, "inplay_gateway_errors_sent_total")
        subs = total(mports, "inplay_gateway_subscriptions")
        gw_p50, gw_p99 = histogram_quantiles(h_gw0, h_gw1, (0.5, 0.99))
        sent_p50, sent_p99 = histogram_quantiles(h_feed0, h_feed1, (0.5, 0.99))
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
        where = "pinned to CPUs 0/1 in turn" if args.pin else "not pinned"
        print(f"fan-out benchmark ({args.gateways} gateway process(es), {where})")
        print(
            f"  connections held            {held:,.0f} (of {args.connections:,}); "
            f"{subs:,.0f} subscriptions, {errors:,.0f} errors sent"
        )
        print(
            f"  memory per idle connection  {idle_kb:,.1f} KiB  (gateway RSS {rss0:,} -> "
            f"{rss1:,} KiB; {rss2:,} KiB under load)"
        )
        print(
            f"  feed                        {args.rate:,.0f} events/s, {args.games} games, "
            f"each connection in one game channel"
            + (
                " (--direct: no Kafka, events applied to Redis as ingest does)"
                if args.direct
                else " (producer -> Kafka -> ingest -> Redis)"
            )
        )
        print(
            f"  publications into gateways  {(p1 - p0) / wall:,.0f}/s in {channels:.0f} "
            "channels (summed over gateways)"
        )
        print(
            f"  deliveries                  {deliveries / wall:,.0f}/s in {wall:.1f} s "
            f"({(f1 - f0) / wall:,.0f} frames/s, {deliveries / max(1, f1 - f0):.2f} msg/frame)"
        )
        print(f"  gateway CPU                 {cpu / wall * 100:.0f}% of one core (all gateways)")
        print(f"  deliveries per CPU-second   {deliveries / max(cpu, 1e-9):,.0f}")
        print(
            f"  feed-to-client latency      p50 {q[49]:.1f} ms  p99 {q[98]:.1f} ms  "
            f"({len(lat):,} events seen by "
            f"{args.connections // args.probe_every:,} probe connections)"
        )
        hops = []
        if not args.direct:
            lags = ingest_lags(settings.log_dir / "ingest.log", int(args.seconds // 5))
            if lags:
                p50s, p99s = [x[0] for x in lags], [x[1] for x in lags]
                how = f"ingest's own report: median of its last {len(lags)} 5-second windows"
                how += f", whose p99s ran {min(p99s)}-{max(p99s)}"
                hops.append(
                    (
                        "producer ts -> in Redis",
                        statistics.median(p50s),
                        statistics.median(p99s),
                        how,
                    )
                )
        hops.append(
            (
                "Redis -> written",
                gw_p50,
                gw_p99,
                "gateway histogram over the measured window, interpolated in buckets",
            )
        )
        hops.append(("ts -> written", sent_p50, sent_p99, "gateway histogram, the same way"))
        hops.append(
            (
                "written -> client",
                q[49] - sent_p50,
                q[98] - sent_p99,
                "probe's ts -> client less ts -> written",
            )
        )
        print("  per hop, p50 / p99 in ms:")
        for name, p50, p99, how in hops:
            print(f"    {name:<24}{p50:6.1f} / {p99:6.1f}   ({how})")
        if kafka is not None:
            share = (k1 - k0) / wall * 100
            print(f"  broker CPU                  {share:.0f}% of one core (kafka)")
        print("  CPU by process during the measured window (whole box, 2 cores = 200%):")
        for line in others:
            print("    " + line)
        return 0
    finally:
        for child in reversed(children):
            child.stop()


if __name__ == "__main__":
    sys.exit(main())

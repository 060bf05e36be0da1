"""Load test of the REST API's candle endpoint: req/s and latency percentiles.

Seeds markets with 1-minute and 5-minute candles (``--seed``), then keeps ``--concurrency``
keep-alive HTTP/1.1 connections busy for ``--duration`` seconds against a running
``python -m rest_api`` (or one it starts with ``--spawn``). The client is a few lines of raw
asyncio on uvloop, so on a small box the load generator takes little CPU from the server.

    .venv/bin/python benchmarks/rest_bench.py --dsn postgresql://... --seed --spawn
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import psycopg
import uvloop

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2031, 3, 1, tzinfo=UTC)
SELECTIONS = ("home", "draw", "away")


def seed(dsn: str, markets: int, minutes: int) -> int:
    """Insert ``markets`` markets with 1m and 5m candles over ``minutes``; returns candles."""
    from storage.migrate import migrate

    migrate(dsn)
    rows = []
    rng = random.Random(7)
    for m in range(markets):
        for sel in SELECTIONS:
            price = rng.uniform(1.5, 6.0)
            for width, step in (("1 minute", 1), ("5 minutes", 5)):
                for i in range(0, minutes, step):
                    bucket = T0 + timedelta(minutes=i)
                    o, c = price, max(1.01, price + rng.uniform(-0.1, 0.1))
                    rows.append(
                        (
                            width,
                            f"bench-m{m}",
                            sel,
                            bucket,
                            o,
                            max(o, c) + 0.02,
                            min(o, c) - 0.02,
                            c,
                            bucket,
                            1,
                            bucket,
                            2,
                            rng.randint(1, 40),
                        )
                    )
                    price = c
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM candles WHERE market_id LIKE 'bench-m%'")
        conn.execute("DELETE FROM markets WHERE market_id LIKE 'bench-m%'")
        conn.execute("DELETE FROM games WHERE game_id = 'bench-g'")
        conn.execute(
            "INSERT INTO games VALUES ('bench-g', 'Bench League', 'football', 'Bench Home',"
            " 'Bench Away', %s, 'live', 0, 0, NULL, NULL, NULL, 1, %s)",
            (T0, T0),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO markets VALUES (%s, 'bench-g', 'match_winner', NULL, 'open',"
                ' \'{"home": 2.0, "draw": 3.0, "away": 4.0}\', 1, %s)',
                [(f"bench-m{m}", T0) for m in range(markets)],
            )
            with cur.copy(
                "COPY candles (width, market_id, selection_id, bucket, open, high, low, close,"
                " open_ts, open_seq, close_ts, close_seq, ticks) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
        conn.execute("ANALYZE candles")
    return len(rows)


def paths(markets: int, minutes: int, window: int, count: int) -> list[bytes]:
    """GET request bytes for random markets and windows of ``window`` minutes of 1m candles."""
    rng = random.Random(11)
    out = []
    for _ in range(count):
        start = T0 + timedelta(minutes=rng.randrange(0, max(1, minutes - window)))
        query = urlencode(
            {
                "interval": "1m",
                "from": start.isoformat().replace("+00:00", "Z"),
                "to": (start + timedelta(minutes=window)).isoformat().replace("+00:00", "Z"),
            }
        )
        path = f"/v1/markets/bench-m{rng.randrange(markets)}/candles?{query}"
        out.append(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    return out


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length)
    return status, len(body)


async def worker(
    host: str,
    port: int,
    requests: list[bytes],
    stop_at: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    """One keep-alive connection sending requests back to back until ``stop_at``."""
    reader, writer = await asyncio.open_connection(host, port)
    i = random.randrange(len(requests))
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            status, _ = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(status)
            i += 1
    finally:
        writer.close()


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a process has used (Linux /proc), 0 without a pid."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_load(
    base_url: str,
    requests: list[bytes],
    concurrency: int,
    duration: float,
    server_pid: int | None = None,
) -> tuple[list[float], list[int], float, float]:
    """Warm up 2 s, then measure ``duration`` s: (latencies, errors, seconds, server CPU s)."""
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    warm: list[float] = []
    await asyncio.gather(
        *(worker(host, port, requests, time.perf_counter() + 2, warm, []) for _ in range(4))
    )
    latencies: list[float] = []
    errors: list[int] = []
    cpu_before = cpu_seconds(server_pid)
    started = time.perf_counter()
    stop_at = started + duration
    await asyncio.gather(
        *(worker(host, port, requests, stop_at, latencies, errors) for _ in range(concurrency))
    )
    elapsed = time.perf_counter() - started
    return latencies, errors, elapsed, cpu_seconds(server_pid) - cpu_before


async def type_ahead(base_url: str, phrases: list[str], rounds: int) -> list[float]:
    """Latency of /v1/search for every prefix of each phrase, one keystroke at a time."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname or "127.0.0.1", url.port or 80)
    latencies = []
    try:
        for _ in range(rounds):
            for phrase in phrases:
                for n in range(1, len(phrase) + 1):
                    query = urlencode({"q": phrase[:n]})
                    started = time.perf_counter()
                    writer.write(f"GET /v1/search?{query} HTTP/1.1\r\nHost: b\r\n\r\n".encode())
                    status, _ = await _read_response(reader)
                    latencies.append(time.perf_counter() - started)
                    assert status == 200, status
    finally:
        writer.close()
    return latencies


def spawn_api(dsn: str, port: int, result_cache_s: float) -> subprocess.Popen[bytes]:
    """Start ``python -m rest_api`` and wait until it answers /ready."""
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "API_PORT": str(port),
        "API_RATE_LIMIT": "0",
        "API_RESULT_CACHE_S": str(result_cache_s),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "rest_api"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    import httpx

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("python -m rest_api did not become ready")


def main() -> None:
    """Parse flags, seed, load, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:18000")
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--seed", action="store_true", help="insert the bench markets first")
    parser.add_argument("--spawn", action="store_true", help="start python -m rest_api")
    parser.add_argument("--markets", type=int, default=20)
    parser.add_argument("--minutes", type=int, default=360, help="candle history per market")
    parser.add_argument("--window", type=int, default=60, help="minutes of 1m candles a query")
    parser.add_argument(
        "--distinct", type=int, default=2000, help="distinct queries, cycled through"
    )
    parser.add_argument(
        "--result-cache-s",
        type=float,
        default=0.0,
        help="API_RESULT_CACHE_S of a --spawn'ed API (default 0: every request hits the DB)",
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--search",
        action="store_true",
        help="instead: type-ahead latency of /v1/search, one keystroke at a time",
    )
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    if (args.seed or args.spawn) and not args.dsn:
        parser.error("--seed and --spawn need --dsn or DATABASE_URL")
    if args.seed:
        n = seed(args.dsn, args.markets, args.minutes)
        print(
            f"seeded {n} candles: {args.markets} markets x {len(SELECTIONS)} selections, "
            f"{args.minutes} min of 1m and 5m buckets"
        )
    proc = None
    if args.spawn:
        port = urlsplit(args.base_url).port or 18000
        proc = spawn_api(args.dsn, port, args.result_cache_s)
    if args.search:
        phrases = ["manchester utd", "man city", "arsnal", "premier league", "real madrid"]
        try:
            latencies = uvloop.run(type_ahead(args.base_url, phrases, 5))
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=15)
        latencies.sort()
        print(
            f"search type-ahead: {len(latencies)} keystrokes over {len(phrases)} phrases, "
            f"one connection: p50 {statistics.median(latencies) * 1000:.2f} ms, "
            f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.2f} ms, "
            f"max {latencies[-1] * 1000:.2f} ms"
        )
        return
    try:
        requests = paths(args.markets, args.minutes, args.window, args.distinct)
        latencies, errors, elapsed, server_cpu = uvloop.run(
            run_load(
                args.base_url,
                requests,
                args.concurrency,
                args.duration,
                proc.pid if proc is not None else None,
            )
        )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=15)
    latencies.sort()
    n = len(latencies)
    pct = lambda p: latencies[min(n - 1, int(n * p))] * 1000  # noqa: E731
    print(
        f"candles ({args.window} x 1m buckets x {len(SELECTIONS)} selections per response), "
        f"{args.distinct} distinct queries, {args.concurrency} connections, {elapsed:.1f} s"
        + (f", spawned API with API_RESULT_CACHE_S={args.result_cache_s:g}" if args.spawn else "")
    )
    print(f"  requests {n}, non-200 {len(errors)}")
    print(f"  throughput {n / elapsed:,.0f} req/s")
    print(
        f"  latency p50 {statistics.median(latencies) * 1000:.2f} ms, p90 {pct(0.90):.2f} ms, "
        f"p99 {pct(0.99):.2f} ms, max {latencies[-1] * 1000:.2f} ms"
    )
    if proc is not None and n:
        # Independent of what else runs on the box: the API's own CPU cost of a request.
        per_request = server_cpu / n
        print(
            f"  API process CPU {server_cpu:.2f} s = {per_request * 1e6:.0f} us/request "
            f"(one fully used core: ~{1 / per_request:,.0f} req/s)"
        )


if __name__ == "__main__":
    main()

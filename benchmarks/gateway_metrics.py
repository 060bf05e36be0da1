"""Reading the gateways' /metrics from a benchmark: values and histogram quantiles."""

from __future__ import annotations

import urllib.request


def histogram_counts(ports: list[int], name: str) -> dict[float, float]:
    """Cumulative bucket counts (upper bound in s -> count) of a histogram, summed over gateways."""
    counts: dict[float, float] = {}
    for port in ports:
        url = f"http://127.0.0.1:{port}/metrics"
        body = urllib.request.urlopen(url, timeout=5).read().decode()
        for line in body.splitlines():
            if line.startswith(name + "_bucket{"):
                le = float(line.split('le="', 1)[1].split('"', 1)[0])
                counts[le] = counts.get(le, 0.0) + float(line.rsplit(" ", 1)[1])
    return counts


def histogram_quantiles(
    before: dict[float, float], after: dict[float, float], qs: tuple[float, ...]
) -> list[float]:
    """Quantiles (ms) of what a histogram observed between two readings, interpolated
    linearly within a bucket as Prometheus's histogram_quantile() does."""
    buckets = sorted((le, n - before.get(le, 0.0)) for le, n in after.items())
    total = buckets[-1][1] if buckets else 0.0
    out = []
    for q in qs:
        lower, below, value = 0.0, 0.0, float("nan")
        for le, n in buckets:
            if total and n >= q * total:
                if le == float("inf"):
                    value = lower
                else:
                    share = (q * total - below) / (n - below) if n > below else 1.0
                    value = lower + (le - lower) * share
                break
            lower, below = le, n
        out.append(value * 1000)
    return out


def metric(port: int, name: str) -> float:
    """One value of a gateway's /metrics."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise KeyError(name)


def total(ports: list[int], name: str) -> float:
    """A /metrics value summed over every gateway."""
    return sum(metric(port, name) for port in ports)

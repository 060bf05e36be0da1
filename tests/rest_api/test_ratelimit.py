"""Who a request counts against (``client_key``): pure, no I/O."""

from __future__ import annotations

from typing import Any

from rest_api.ratelimit import client_key
from rest_api.settings import Settings


def _scope(*xff: str, peer: str = "10.0.0.9") -> dict[str, Any]:
    headers = [(b"x-forwarded-for", v.encode()) for v in xff]
    return {"type": "http", "client": (peer, 4321), "headers": [(b"accept", b"*/*"), *headers]}


def test_untrusted_forwarded_for_is_ignored() -> None:
    assert client_key(_scope("198.51.100.7")) == "10.0.0.9"
    assert client_key({"type": "http", "headers": []}) == "unknown"


def test_one_proxy_the_rightmost_entry_is_the_client() -> None:
    # The proxy appended the address it saw; what the client wrote itself is further left.
    assert client_key(_scope("198.51.100.7"), 1) == "198.51.100.7"
    assert client_key(_scope("1.2.3.4, 198.51.100.7"), 1) == "198.51.100.7"
    assert client_key(_scope("evil, 5.6.7.8 ,  198.51.100.7 "), 1) == "198.51.100.7"


def test_spoofed_leftmost_entries_do_not_change_the_key() -> None:
    keys = {client_key(_scope(f"203.0.113.{n}, 198.51.100.7"), 1) for n in range(20)}
    assert keys == {"198.51.100.7"}


def test_several_proxies_count_from_the_right() -> None:
    # Client -> CDN -> load balancer -> API: the CDN wrote the client, the LB the CDN.
    assert client_key(_scope("spoof, 198.51.100.7, 192.0.2.1"), 2) == "198.51.100.7"
    # Repeated header lines are one list in order.
    assert client_key(_scope("spoof, 198.51.100.7", "192.0.2.1"), 2) == "198.51.100.7"
    # Fewer entries than proxies: the furthest one known.
    assert client_key(_scope("198.51.100.7"), 3) == "198.51.100.7"


def test_no_or_empty_header_falls_back_to_the_peer() -> None:
    assert client_key(_scope(), 1) == "10.0.0.9"
    assert client_key(_scope("1.2.3.4, "), 1) == "10.0.0.9"


def test_redis_url_is_secret_in_the_settings_log() -> None:
    settings = Settings(redis_url="redis://:hunter2@cache:6379/0", api_trusted_hops=2)
    dumped = settings.model_dump(mode="json")
    assert dumped["redis_url"] == "**********" and "hunter2" not in str(dumped)
    assert settings.redis_url.get_secret_value() == "redis://:hunter2@cache:6379/0"
    assert dumped["api_trusted_hops"] == 2 and Settings().api_trusted_hops == 1

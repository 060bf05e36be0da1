"""Health, readiness, metrics, the OpenAPI document and its page, generic errors, rate limit."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import orjson
from openapi_spec_validator import validate
from starlette.routing import Route

from rest_api.app import all_routes
from rest_api.openapi import operation_of
from tests.rest_api.helpers import AppClient, assert_error, settings_for

CLOSED_PORT_DSN = "postgresql://postgres@127.0.0.1:1/inplay"


async def test_health_ready_and_unknown_routes(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert (await client.get("/ready")).json() == {"status": "ready"}
    assert_error(await client.get("/v2/games"), 404, "not_found")
    assert_error(await client.get("/v1/markets/rt-m1"), 404, "not_found")
    assert_error(await client.post("/v1/games"), 405, "method_not_allowed")


async def test_metrics_count_and_time_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/v1/games/rt-g1")
    await client.get("/v1/games/unknown-id")
    await client.get("/no/such/route")
    text = (await client.get("/metrics")).text
    series = 'inplay_api_requests_total{method="GET",route="/v1/games/{game_id}"'
    assert series + ',status="200"}' in text
    assert series + ',status="404"}' in text
    assert 'route="unmatched",status="404"' in text
    assert "inplay_api_request_duration_seconds_bucket{" in text
    assert 'route="/v1/games/{game_id}"' in text and "rt-g1" not in text  # templates, not ids


async def test_openapi_describes_every_route_parameter_and_error(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    validate(spec)  # a valid OpenAPI 3.1 document
    assert spec["openapi"].startswith("3.1")
    app = client._transport.app  # type: ignore[attr-defined]
    routes = [r for r in app.routes if isinstance(r, Route)]
    assert len(routes) == len(all_routes())
    for route in routes:
        item = spec["paths"][route.path]
        for method in route.methods - {"HEAD"}:
            op = item[method.lower()]
            declared = {(p["name"], p["in"]) for p in op["parameters"]}
            for name in route.param_convertors:
                assert (name, "path") in declared, (route.path, name)
            for param in operation_of(route).params:  # type: ignore[union-attr]
                assert (param.name, param.location) in declared
            codes = set(op["responses"])
            assert {"200", "405", "500"} <= codes
            if route.param_convertors:
                assert {"400", "404"} <= codes, route.path
            if route.path.startswith("/v1/"):
                assert {"400", "429", "503"} <= codes, route.path
            for code, response in op["responses"].items():
                if code.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}
    candles = spec["paths"]["/v1/markets/{market_id}/candles"]["get"]
    names = {p["name"] for p in candles["parameters"]}
    assert {"market_id", "interval", "from", "to", "If-None-Match"} <= names
    assert "304" in candles["responses"]


async def test_docs_page_is_self_contained(client: httpx.AsyncClient) -> None:
    r = await client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "openapi.json" in html and "<script>" in html
    assert "http://" not in html and "https://" not in html  # no CDN
    assert "<script src" not in html and "<link" not in html


async def test_rate_limit_per_client_sliding_log(seeded: str, stack: Any) -> None:
    settings = settings_for(
        seeded,
        redis_url=stack.redis_url,
        api_rate_limit=3,
        api_rate_window_s=30,
        api_trust_forwarded=True,
    )
    one, two = f"198.51.100.{secrets.randbelow(250)}", f"203.0.113.{secrets.randbelow(250)}"
    async with AppClient(settings) as http:
        # The proxy appends the client's address; entries left of it are the client's own
        # and change nothing (a spoofed first hop does not buy a fresh log).
        for n in range(3):
            xff = {"X-Forwarded-For": f"192.0.2.{n}, {one}"}
            assert (await http.get("/v1/games/rt-g1", headers=xff)).status_code == 200
        limited = await http.get("/v1/games/rt-g1", headers={"X-Forwarded-For": one})
        assert_error(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["retry-after"]) <= 30
        # Another client has its own log; health and metrics are never limited.
        assert (await http.get("/v1/games", headers={"X-Forwarded-For": two})).status_code == 200
        assert (await http.get("/health", headers={"X-Forwarded-For": one})).status_code == 200
        metrics = (await http.get("/metrics")).text
        assert 'route="/v1/games/{game_id}",status="429"' in metrics
    # Untrusted X-Forwarded-For: everyone behind the same peer shares one log.
    settings = settings_for(
        seeded, redis_url=stack.redis_url, api_rate_limit=2, api_rate_window_s=30
    )
    peer = f"10.9.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    async with AppClient(settings, peer=peer) as http:
        codes = []
        for n in range(3):
            xff = {"X-Forwarded-For": f"192.0.2.{n}"}
            codes.append((await http.get("/v1/games/rt-g1", headers=xff)).status_code)
        assert codes == [200, 200, 429]


async def test_database_down_is_503_and_not_ready(seeded: str) -> None:
    settings = settings_for(CLOSED_PORT_DSN, db_timeout_s=0.3, db_pool_min=1)
    async with AppClient(settings) as http:
        assert (await http.get("/health")).status_code == 200
        assert_error(await http.get("/ready"), 503, "database_unavailable")
        for url in (
            "/v1/games",
            "/v1/games/rt-g1",
            "/v1/markets/rt-m1/candles?interval=1m",
            "/v1/search?q=man",
        ):
            assert_error(await http.get(url), 503, "database_unavailable")
        # Bad input is still a 400: parameters are checked before the database is asked.
        assert_error(await http.get("/v1/markets/x/candles?interval=9m"), 400, "bad_parameter")
        body = orjson.loads((await http.get("/ready")).content)
        assert "Traceback" not in body["error"]["message"]


async def test_rate_limiter_fails_open_without_redis(seeded: str) -> None:
    """Losing Redis must not take the API down: requests pass, unlimited."""
    settings = settings_for(seeded, redis_url="redis://127.0.0.1:1/0", api_rate_limit=1)
    async with AppClient(settings) as http:
        for _ in range(3):
            assert (await http.get("/v1/games/rt-g1")).status_code == 200

"""/v1/markets/{id}: candles, volume, exposure; ETag and 304."""

from __future__ import annotations

import httpx
import pytest

from tests.rest_api.helpers import CANDLES, assert_error

RANGE = {"from": "2030-01-01T12:00:00Z", "to": "2030-01-01T13:00:00Z"}


def _iso(dt) -> str:
    return dt.isoformat().replace("+00:00", "Z")


async def test_candles_per_selection_exactly_as_stored(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/markets/rt-m1/candles", params={"interval": "1m", **RANGE})
    assert r.status_code == 200
    body = r.json()
    assert body["interval"] == "1m" and body["from"] == "2030-01-01T12:00:00Z"
    expected: dict[str, list] = {}
    for width, sel, bucket, o, h, lo, c, ticks in CANDLES:
        if width == "1 minute":
            expected.setdefault(sel, []).append(
                {"t": _iso(bucket), "open": o, "high": h, "low": lo, "close": c, "ticks": ticks}
            )
    assert body["selections"] == expected
    # [from, to): the 12:10 bucket drops out when to is 12:10; 5m reads its own rows.
    r = await client.get(
        "/v1/markets/rt-m1/candles",
        params={"interval": "1m", "from": "2030-01-01T12:00:30Z", "to": "2030-01-01T12:10:00Z"},
    )
    assert [c["t"] for c in r.json()["selections"]["home"]] == [
        "2030-01-01T12:00:00Z",
        "2030-01-01T12:01:00Z",
    ]
    r = await client.get("/v1/markets/rt-m1/candles", params={"interval": "5m", **RANGE})
    assert r.json()["selections"]["home"] == [
        {
            "t": "2030-01-01T12:00:00Z",
            "open": 2.0,
            "high": 2.2,
            "low": 1.9,
            "close": 2.12,
            "ticks": 7,
        }
    ]
    r = await client.get("/v1/markets/rt-m2/candles", params={"interval": "1m", **RANGE})
    assert r.status_code == 200 and r.json()["selections"] == {}


async def test_volume_per_selection_per_bucket(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/markets/rt-m1/volume", params={"interval": "5m", **RANGE})
    assert r.status_code == 200
    assert r.json()["selections"] == {
        "away": [{"t": "2030-01-01T12:00:00Z", "bets": 3, "stake": 300, "payout": 1170.0}],
        "home": [
            {"t": "2030-01-01T12:00:00Z", "bets": 2, "stake": 1000, "payout": 2100.0},
            {"t": "2030-01-01T12:05:00Z", "bets": 1, "stake": 500, "payout": 1100.0},
        ],
    }
    r = await client.get("/v1/markets/rt-m1/volume", params={"interval": "1m", **RANGE})
    assert r.json()["selections"]["away"] == [
        {"t": "2030-01-01T12:01:00Z", "bets": 3, "stake": 300, "payout": 1170.0}
    ]


async def test_exposure_stakes_payout_and_net(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/markets/rt-m1/exposure")
    assert r.status_code == 200
    body = r.json()
    assert body["total_stake"] == 1800
    by_sel = {s["selection_id"]: s for s in body["selections"]}
    assert by_sel["home"] == {
        "selection_id": "home",
        "bets": 3,
        "stake": 1500,
        "payout": pytest.approx(3200.0),
        "net": pytest.approx(1400.0),
    }
    assert by_sel["away"]["stake"] == 300 and by_sel["away"]["net"] == pytest.approx(-630.0)
    # A selection nobody backed still shows: if it wins the book keeps every stake.
    assert by_sel["draw"] == {
        "selection_id": "draw",
        "bets": 0,
        "stake": 0,
        "payout": 0.0,
        "net": -1800.0,
    }
    assert body["worst_case_net"] == pytest.approx(1400.0)
    r = await client.get("/v1/markets/rt-m2/exposure")
    assert r.json()["total_stake"] == 0
    assert {s["selection_id"] for s in r.json()["selections"]} == {"over", "under"}


@pytest.mark.parametrize("kind", ["candles", "volume"])
async def test_range_errors_name_the_parameter(client: httpx.AsyncClient, kind: str) -> None:
    url = f"/v1/markets/rt-m1/{kind}"
    assert_error(await client.get(url), 400, "bad_parameter", "interval")
    assert_error(await client.get(url, params={"interval": "1h"}), 400, "bad_parameter", "interval")
    backwards = {"interval": "1m", "from": RANGE["to"], "to": RANGE["from"]}
    assert_error(await client.get(url, params=backwards), 400, "bad_parameter", "from")
    wide = {"interval": "1m", "from": "2030-01-01T00:00:00Z", "to": "2030-01-03T00:00:00Z"}
    assert_error(await client.get(url, params=wide), 400, "bad_parameter", "from")
    bad_to = {"interval": "5m", "to": "soon"}
    assert_error(await client.get(url, params=bad_to), 400, "bad_parameter", "to")
    unknown = await client.get(f"/v1/markets/nope/{kind}", params={"interval": "1m", **RANGE})
    assert_error(unknown, 404, "not_found")


async def test_unknown_market_exposure_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/markets/nope/exposure"), 404, "not_found")


async def test_etag_and_if_none_match(client: httpx.AsyncClient) -> None:
    url = "/v1/markets/rt-m1/candles"
    query = {"interval": "1m", **RANGE}
    first = await client.get(url, params=query)
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and first.headers["cache-control"] == "public, max-age=5"
    again = await client.get(url, params=query)
    assert again.headers["etag"] == etag  # same body, same tag
    not_modified = await client.get(url, params=query, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    listed = await client.get(url, params=query, headers={"If-None-Match": f'"x", {etag}'})
    assert listed.status_code == 304
    stale = await client.get(url, params=query, headers={"If-None-Match": 'W/"other"'})
    assert stale.status_code == 200 and stale.json() == first.json()
    other = await client.get(url, params={"interval": "5m", **RANGE})
    assert other.headers["etag"] != etag
    exposure = await client.get("/v1/markets/rt-m1/exposure")
    assert "etag" in exposure.headers

"""Bad input and limits: each refusal is the documented error or close code, never a crash."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest
from websockets.exceptions import InvalidStatus

from tests.broadcaster.conftest import ALLOWED_ORIGIN
from tests.broadcaster.helpers import Client, token


async def _error(c: Client, ref, **send) -> dict:
    await c.ws.send(send.pop("raw")) if "raw" in send else await c.send(ref=ref, **send)
    return await c.wait_for(lambda m: m.get("type") == "error" and m.get("ref") == ref)


@pytest.fixture
async def bystander(gateway):
    """A client that must keep being served while others misbehave."""
    c = await Client.connect(gateway.url())
    await c.send(op="subscribe", channels=["games"])
    await c.wait_type("subscribed", channel="games")
    yield c
    await c.send(op="ping", ref="still-there")
    await c.wait_type("pong")
    assert not c.closed.is_set()
    await c.close()


async def test_malformed_messages_get_error_codes(gateway, bystander):
    c = await Client.connect(gateway.url())
    await c.ws.send("{not json")
    assert (await c.wait_type("error"))["code"] == "bad_json"
    cases = [
        ("a", {"op": "dance"}, "unknown_op"),
        ("b", {"channels": ["games"]}, "bad_message"),
        ("c", {"op": "subscribe", "channels": ["nope"]}, "unknown_channel"),
        ("d", {"op": "subscribe", "channels": ["game:"]}, "unknown_channel"),
        ("e", {"op": "subscribe", "channels": "games"}, "bad_message"),
        ("f", {"op": "subscribe", "channels": ["games"], "conflate_ms": 20_000}, "bad_conflate"),
        ("g", {"op": "subscribe", "channels": ["games"], "conflate_ms": -1}, "bad_conflate"),
        ("h", {"op": "subscribe", "channels": ["games"], "resume": {"games": 3}}, "bad_resume"),
        ("i", {"op": "unsubscribe", "channels": ["games"]}, "not_subscribed"),
        ("j", {"op": "auth", "token": ""}, "bad_message"),
    ]
    for ref, op, code in cases:
        err = await _error(c, ref, **op)
        assert err["code"] == code, (op, err)
        assert isinstance(err["message"], str) and err["message"]
    await c.ws.send("[1, 2]")
    await c.wait_for(lambda m: m.get("type") == "error" and m["code"] == "bad_message")
    await c.send(op="subscribe", channels=["games"], ref="ok")
    await c.wait_type("subscribed", channel="games")
    err = await _error(c, "dup", op="subscribe", channels=["games"])
    assert err["code"] == "already_subscribed"
    await c.send(op="ping")
    await c.wait_type("pong")
    await c.close()


async def test_oversized_frame_closes_1009(gateway, bystander):
    c = await Client.connect(gateway.url())
    await c.ws.send('{"op":"ping","ref":"' + "x" * 20_000 + '"}')
    await asyncio.wait_for(c.closed.wait(), 5)
    assert c.ws.close_code == 1009


async def test_subscription_and_rate_limits(gateway, bystander):
    c = await Client.connect(gateway.url())
    await c.send(op="subscribe", channels=[f"game:limit-{i}" for i in range(60)], ref=1)
    await c.send(op="subscribe", channels=[f"game:limit-b{i}" for i in range(60)], ref=2)
    err = await c.wait_type("error", ref=2)
    assert err["code"] == "too_many_subscriptions"
    assert len([m for m in c.messages if m["type"] == "subscribed"]) == 60
    await c.close()
    r = await Client.connect(gateway.url())
    for i in range(45):  # burst is 40
        await r.send(op="subscribe", channels=[f"game:rate-{i}"], ref=i)
    await r.send(op="ping", ref="p")
    await r.wait_type("pong", timeout=20)
    codes = [m["code"] for m in r.messages if m["type"] == "error"]
    assert "rate_limited" in codes
    await r.close()


async def test_user_channels_need_a_valid_jwt(gateway, bystander):
    c = await Client.connect(gateway.url())
    ch = "user:acct-jwt"
    assert (await _error(c, 1, op="subscribe", channels=[ch]))["code"] == "unauthorized"
    forged = token("acct-jwt", key="some-other-secret-0123456789-abcdefghij")
    assert (await _error(c, 2, op="auth", token=forged))["code"] == "token_invalid"
    expired = token("acct-jwt", expires_in=-60)
    assert (await _error(c, 3, op="auth", token=expired))["code"] == "token_expired"
    none_alg = jwt.encode({"sub": "acct-jwt", "exp": int(time.time()) + 60}, None, algorithm="none")
    assert (await _error(c, 4, op="auth", token=none_alg))["code"] == "token_invalid"
    no_exp = jwt.encode({"sub": "acct-jwt"}, "test-secret-0123456789-abcdefghijklmnop")
    assert (await _error(c, 5, op="auth", token=no_exp))["code"] == "token_invalid"
    assert (await _error(c, 6, op="auth", token="garbage"))["code"] == "token_invalid"
    assert (await _error(c, 7, op="subscribe", channels=[ch]))["code"] == "unauthorized"
    await c.send(op="auth", token=token("acct-other"))
    assert (await _error(c, 8, op="subscribe", channels=[ch]))["code"] == "unauthorized"
    await c.send(op="auth", token=token("acct-jwt", expires_in=2))
    await c.send(op="subscribe", channels=[ch])
    sub = await c.wait_type("subscribed", channel=ch)
    assert sub["seq"] == 0
    # When the token expires, the user channel ends with an error.
    err = await c.wait_for(
        lambda m: m.get("type") == "error" and m["code"] == "token_expired" and m["ref"] is None,
        timeout=6,
    )
    assert "user channels ended" in err["message"]
    await c.send(op="unsubscribe", channels=[ch], ref=9)
    assert (await c.wait_type("error", ref=9))["code"] == "not_subscribed"
    await c.close()


async def test_origin_allowlist_and_path(gateway, bystander):
    ok = await Client.connect(gateway.url(), origin=ALLOWED_ORIGIN)
    await ok.wait_type("welcome")
    await ok.close()
    with pytest.raises(InvalidStatus) as info:
        await Client.connect(gateway.url(), origin="https://evil.example")
    assert info.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as info:
        await Client.connect(gateway.url().replace("/ws", "/other"))
    assert info.value.response.status_code == 404


async def test_connection_limits_and_dead_peer(start_gateway, ingest):
    gw = await start_gateway(
        "gateway-strict",
        GATEWAY_MAX_CONNECTIONS="3",
        GATEWAY_HEARTBEAT_MS="200",
        GATEWAY_DEAD_PEER_MS="1000",
    )
    clients = [await Client.connect(gw.url(), ping_interval=None) for _ in range(3)]
    with pytest.raises(InvalidStatus) as info:
        await Client.connect(gw.url())
    assert info.value.response.status_code == 503
    # Clients that never send anything are closed as dead peers (4002); heartbeats came first.
    for c in clients:
        await asyncio.wait_for(c.closed.wait(), 5)
        assert c.ws.close_code == 4002
        assert any(m["type"] == "heartbeat" for m in c.messages)
    # Their slots are free again; a client that pings stays.
    alive = await Client.connect(gw.url(), ping_interval=None)
    for _ in range(8):
        await alive.send(op="ping")
        await asyncio.sleep(0.2)
    assert not alive.closed.is_set()
    await alive.close()
    per_ip = await start_gateway("gateway-per-ip", GATEWAY_MAX_CONNECTIONS_PER_IP="2")
    two = [await Client.connect(per_ip.url()) for _ in range(2)]
    with pytest.raises(InvalidStatus) as info:
        await Client.connect(per_ip.url())
    assert info.value.response.status_code == 429
    for c in two:
        await c.close()

"""The gateway's pure parts: frames, conflation, limits, the conflater, JWT identity."""

from __future__ import annotations

import orjson
import pytest

from broadcaster import publication
from broadcaster.gateway.limits import ConnectionLimits, Refusal, TokenBucket, origin_allowed
from broadcaster.gateway.writer import Message, conflate, text_frame
from tests.broadcaster.samples import BET, GAME, ODDS


def test_text_frame_lengths():
    for n in (0, 125, 126, 65535, 65536):
        f = text_frame(b"x" * n)
        assert f[0] == 0x81 and f.endswith(b"x" * n)
        assert len(f) - n == (2 if n < 126 else 4 if n < 65536 else 10)


def _odds(seq: int, market: str, ch: str = "game:g1") -> Message:
    return Message(orjson.dumps({"type": "event", "seq": seq, "m": market}), ch, seq, 1, market)


def test_conflation_keeps_latest_per_market_in_order():
    q = [
        _odds(1, "a"),
        _odds(2, "b"),
        Message(b'{"type":"event","seq":3}', "game:g1", 3),
        _odds(4, "a"),
        _odds(5, "a"),
        _odds(6, "a", "game:g2"),
    ]
    assert conflate(q) == 2
    out = [orjson.loads(m.msg) for m in q]
    assert [m["seq"] for m in out] == [2, 3, 5, 6]
    assert [m.get("conflated", False) for m in out] == [False, False, True, False]
    assert conflate(q) == 0  # nothing more to drop
    again = [*q, _odds(7, "a")]
    assert conflate(again) == 1
    assert orjson.loads(again[-1].msg)["conflated"] is True and again[-1].seq == 7


# --- limits ------------------------------------------------------------------------------


def test_token_bucket_and_connection_limits():
    b = TokenBucket(rate=2, burst=3, now=0)
    assert [b.allow(0) for _ in range(4)] == [True, True, True, False]
    assert b.allow(0.5) and not b.allow(0.5)
    lim = ConnectionLimits(max_total=3, max_per_ip=2)
    assert lim.acquire("a") is None and lim.acquire("a") is None
    assert lim.acquire("a") is Refusal.ADDRESS_FULL
    assert Refusal.ADDRESS_FULL.status == 429
    assert lim.acquire("b") is None
    assert lim.acquire("c") is Refusal.GATEWAY_FULL
    assert Refusal.GATEWAY_FULL.status == 503
    lim.release("a")
    assert lim.acquire("c") is None
    assert origin_allowed(None, None) and origin_allowed("x", None)
    assert origin_allowed(None, frozenset({"null"})) and not origin_allowed("x", frozenset({"y"}))


# --- client-chosen conflation ------------------------------------------------------------


class _Collect:
    def __init__(self):
        self.out: list[Message] = []

    def push(self, m: Message) -> None:
        self.out.append(m)


async def test_conflater_merges_games_keeps_latest_odds_and_passes_bets():
    import asyncio

    from broadcaster.gateway.conflater import Conflater

    w = _Collect()
    c = Conflater(w, "game:g1", 50, through=0)  # type: ignore[arg-type]

    def ev(seq, data, ckey=None):
        return Message(publication.event_message("game:g1", seq, data), "game:g1", seq, 1, ckey)

    c.push(ev(1, GAME))
    c.push(ev(2, ODDS, "m1"))
    c.push(ev(3, {**ODDS, "prices": {"home": 3.0, "away": 1.5}}, "m1"))
    c.push(ev(4, {**GAME, "status": "live", "clock": None} | {"clock": 60}))
    c.push(ev(5, BET))
    assert w.out == []
    await asyncio.sleep(0.12)
    got = [orjson.loads(m.msg) for m in w.out]
    assert [m["seq"] for m in got] == [3, 4, 5]
    assert got[0]["conflated"] and got[0]["data"]["prices"] == {"home": 3.0, "away": 1.5}
    assert got[1]["conflated"] and got[1]["data"]["status"] == "live"
    assert got[1]["data"]["clock"] == 60 and got[1]["data"]["league"] == "Serie A"
    assert "conflated" not in got[2]
    assert c.flushed == 5
    c.stop()


# --- auth --------------------------------------------------------------------------------


def test_authenticator_rs256_and_hs256():
    import time

    import jwt as pyjwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from broadcaster.errors import TokenExpired, TokenInvalid
    from broadcaster.gateway.auth import Authenticator
    from broadcaster.settings import GatewaySettings

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    auth = Authenticator(
        GatewaySettings(jwt_algorithm="RS256", jwt_public_key=public, jwt_audience="inplay")
    )
    exp = int(time.time()) + 60
    good = pyjwt.encode({"sub": "acct-9", "exp": exp, "aud": "inplay"}, key, algorithm="RS256")
    assert auth.verify(good).account == "acct-9"
    # An HS256 token "signed" with the public key must not pass (algorithm confusion).
    with pytest.raises(TokenInvalid):
        auth.verify(pyjwt.encode({"sub": "x", "exp": exp, "aud": "inplay"}, "k" * 32))
    with pytest.raises(TokenInvalid):  # wrong audience
        auth.verify(pyjwt.encode({"sub": "a", "exp": exp, "aud": "other"}, key, algorithm="RS256"))
    with pytest.raises(TokenExpired):
        auth.verify(pyjwt.encode({"sub": "a", "exp": 1, "aud": "inplay"}, key, algorithm="RS256"))
    hs = Authenticator(GatewaySettings(jwt_secret="s" * 32))
    assert hs.verify(pyjwt.encode({"sub": "b", "exp": exp}, "s" * 32)).account == "b"
    with pytest.raises(TokenInvalid):  # sub must be a non-empty string
        hs.verify(pyjwt.encode({"sub": "", "exp": exp}, "s" * 32))
    with pytest.raises(TokenInvalid):
        Authenticator(GatewaySettings()).verify(good)  # no key configured

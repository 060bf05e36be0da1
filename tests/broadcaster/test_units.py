"""Pure parts without sockets: state apply, channel routing, protocol parsing, conflation."""

from __future__ import annotations

import orjson
import pytest

from broadcaster import keys, protocol, publication, state
from broadcaster.channels import Kind, channels_for, kind_of
from broadcaster.errors import ERROR_CODES, UnknownChannel
from broadcaster.ingest.redis_scripts import ApplyConfig, batch_call
from broadcaster.protocol import Auth, ClientError, Ping, Position, Subscribe, Unsubscribe
from inplay_events import decode, to_dict
from tests.broadcaster.helpers import apply_args
from tests.broadcaster.samples import BET, GAME, ODDS

# --- channels ----------------------------------------------------------------------------


def test_channel_kinds():
    assert kind_of("games") is Kind.GAMES
    assert kind_of("game:g1") is Kind.GAME
    assert kind_of("league:Serie A") is Kind.LEAGUE
    assert kind_of("user:acct-1") is Kind.USER
    for bad in ("", "game", "game:", "user:", "foo:x", "games2", "game:a\nb", "game:" + "x" * 129):
        with pytest.raises(UnknownChannel):
            kind_of(bad)


def test_routing():
    assert channels_for(decode(GAME)) == ["games", "league:Serie A", "game:g1"]
    assert channels_for(decode(ODDS)) == ["game:g1"]
    assert channels_for(decode(BET)) == ["user:acct-1"]
    alive = {"v": 1, "id": "a", "type": "alive", "producer": "p", "ts": 1}
    assert channels_for(decode(alive)) == []


# --- state -------------------------------------------------------------------------------


def test_game_channel_state():
    ch = "game:g1"
    st = state.apply(ch, state.empty(ch), GAME)
    st = state.apply(ch, st, ODDS)
    assert st == {
        "game": {k: GAME[k] for k in state.GAME_FIELDS},
        "markets": {
            "m1": {
                "kind": "match_winner",
                "line": None,
                "status": "open",
                "prices": {"home": 2.1, "away": 1.8},
            }
        },
    }
    # A game event overwrites only the fields it carries.
    partial = {**GAME, "seq": 4, "status": "live", "score": {"home": 1, "away": 0}}
    del partial["clock"]
    st2 = state.apply(ch, st, partial)
    assert st2["game"]["clock"] == 0 and st2["game"]["status"] == "live"
    assert st["game"]["status"] == "scheduled"  # apply does not mutate its input
    assert state.apply(ch, st, BET) == st


def test_games_league_and_user_state():
    assert state.apply("games", state.empty("games"), GAME)["games"]["g1"]["home"] == "A"
    assert state.apply("league:Serie A", state.empty("league:Serie A"), ODDS) == {"games": {}}
    st = state.empty("user:acct-1")
    for i in range(5):
        st = state.apply("user:acct-1", st, {**BET, "bet_id": f"b{i}"}, user_bets=3)
    assert [b["bet_id"] for b in st["bets"]] == ["b2", "b3", "b4"]
    assert set(st["bets"][0]) == set(state.BET_FIELDS)


def test_an_ended_game_leaves_games_and_league_but_not_its_own_channel():
    settled = {**GAME, "seq": 9, "kind": "settled", "status": "settled", "results": {"m1": "home"}}
    cancelled = {**GAME, "game_id": "g2", "kind": "cancelled", "status": "cancelled"}
    for ch in ("games", "league:Serie A"):
        st = state.apply(ch, state.empty(ch), GAME)
        st = state.apply(ch, st, {**GAME, "game_id": "g2"})
        st = state.apply(ch, st, settled)
        assert set(st["games"]) == {"g2"}
        assert state.apply(ch, st, cancelled) == {"games": {}}
        # An ended game that was never there, and a game back after ending (rare).
        assert state.apply(ch, state.empty(ch), settled) == {"games": {}}
        back = state.apply(ch, state.apply(ch, st, cancelled), {**cancelled, "status": "live"})
        assert back["games"]["g2"]["status"] == "live"
    own = state.apply("game:g1", state.apply("game:g1", state.empty("game:g1"), GAME), settled)
    assert own["game"]["status"] == "settled"
    assert state.ended(settled) and not state.ended(GAME) and not state.ended(ODDS)


def test_snapshot_data_matches_state_model():
    game = orjson.dumps(state.game_object(GAME))
    market = orjson.dumps(state.market_object(ODDS))
    data = state.from_redis(Kind.GAME, [b"game", game, b"m:m1", market])
    assert data == state.apply(
        "game:g1", state.apply("game:g1", state.empty("game:g1"), GAME), ODDS
    )
    assert state.from_redis(Kind.GAME, []) == state.empty("game:g1")
    assert state.from_redis(Kind.GAMES, [b"g1", game]) == {"games": {"g1": state.game_object(GAME)}}
    assert state.from_redis(Kind.USER, []) == {"bets": []}


def test_script_call():
    game, odds, bet = decode(GAME), decode(ODDS), decode(BET)
    settled = decode(
        {
            **GAME,
            "id": "e4",
            "seq": 4,
            "kind": "settled",
            "status": "settled",
            "results": {"m1": "home"},
        }
    )
    call = batch_call([game, odds, bet, settled], "ep1", _config())
    fixed, (g, o, b, s) = apply_args(call)
    assert fixed.candidate_epoch == "ep1" and fixed.event_count == 4 and fixed.published_ms > 0
    assert fixed.ended_ttl_ms == 3_600_000
    assert fixed.user_ttl_ms == 86_400_000  # user channels' expiry after the last bet
    assert (fixed.quiet, fixed.quiet_since, orjson.loads(fixed.marks)) == ("0", 0, [])
    # Each channel comes once, numbered as it first appears; its keys follow the events'.
    names = ["games", "league:Serie A", "game:g1", "user:acct-1"]
    assert orjson.loads(fixed.channels) == [[keys.pubsub(n), f'"{n}"'] for n in names]
    assert call.keys == [
        "",  # no marks key: no marks
        *(keys.dedupe("e1"), keys.last_seq("g1", "game")),
        *(keys.dedupe("e2"), keys.last_seq("g1", "odds")),
        *(keys.dedupe("e3"), keys.last_seq("g1", "bet")),
        *(keys.dedupe("e4"), keys.last_seq("g1", "game")),
        *(key for n in names for key in keys.channel_keys(n)),
    ]
    assert (o.game_seq, o.header) == (2, b',2,"m1",')
    assert orjson.loads(o.data) == to_dict(odds)
    assert orjson.loads(o.value) == state.market_object(to_dict(odds))
    assert orjson.loads(o.ops) == [[3, "set", "m:m1"]]
    assert orjson.loads(g.value) == state.game_object(GAME)
    assert orjson.loads(g.ops) == [[1, "merge", "g1"], [2, "merge", "g1"], [3, "live", "game"]]
    # games and league drop it; its own channel keeps it (and its keys get an expiry).
    assert orjson.loads(s.ops) == [[1, "drop", "g1"], [2, "drop", "g1"], [3, "ended", "game"]]
    # A bet has a market but no conflation key.
    assert b.header == b",3,null," and orjson.loads(b.ops) == [[4, "push", ""]]


def _config():
    return ApplyConfig(history_maxlen=10, history_ttl_ms=1000, dedupe_ttl_ms=1000, user_bets=5)


def test_publication_roundtrip():
    msg = publication.event_message("game:g1", 7, ODDS)
    payload = b'["ep",7' + publication.header_middle(2, "m1") + b"9]\n" + msg
    assert publication.split(payload) == ("ep", 7, 2, "m1", 9, msg)


# --- protocol ----------------------------------------------------------------------------


def test_parse_ops():
    sub = protocol.parse(
        b'{"op":"subscribe","channels":["games","games","game:g1"],"ref":"r",'
        b'"resume":{"game:g1":{"epoch":"e","seq":4}}}'
    )
    assert sub == Subscribe(("games", "game:g1"), {"game:g1": Position("e", 4)}, 0, "r")
    assert protocol.parse('{"op":"unsubscribe","channels":["games"],"ref":3}') == Unsubscribe(
        ("games",), 3
    )
    assert protocol.parse('{"op":"ping"}') == Ping()
    assert protocol.parse('{"op":"auth","token":"t"}') == Auth("t")


@pytest.mark.parametrize(
    ("raw", "code", "ref"),
    [
        ("{", "bad_json", None),
        ("[]", "bad_message", None),
        ('{"ref":1}', "bad_message", 1),
        ('{"op":"x","ref":"a"}', "unknown_op", "a"),
        ('{"op":"ping","ref":true}', "bad_message", None),
        ('{"op":"ping","ref":{"a":1}}', "bad_message", None),
        ('{"op":"subscribe","channels":[]}', "bad_message", None),
        ('{"op":"subscribe","channels":[1]}', "bad_message", None),
        ('{"op":"subscribe","channels":["x"],"ref":2}', "unknown_channel", 2),
        ('{"op":"subscribe","channels":["games"],"conflate_ms":1.5}', "bad_conflate", None),
        ('{"op":"subscribe","channels":["games"],"conflate_ms":10001}', "bad_conflate", None),
        (
            '{"op":"subscribe","channels":["games"],"resume":{"game:x":{"epoch":"e","seq":1}}}',
            "bad_resume",
            None,
        ),
        (
            '{"op":"subscribe","channels":["games"],"resume":{"games":{"epoch":"e","seq":-1}}}',
            "bad_resume",
            None,
        ),
        ('{"op":"auth","token":5}', "bad_message", None),
    ],
)
def test_parse_errors(raw, code, ref):
    with pytest.raises(ClientError) as info:
        protocol.parse(raw)
    assert info.value.error.code == code
    assert info.value.ref == ref
    assert code in ERROR_CODES


def test_server_messages():
    assert orjson.loads(protocol.welcome(1000)) == {
        "type": "welcome",
        "protocol": 1,
        "heartbeat_ms": 1000,
        "status": "live",
    }
    assert orjson.loads(protocol.error("bad_json", "m", "r")) == {
        "type": "error",
        "ref": "r",
        "code": "bad_json",
        "message": "m",
    }
    marked = protocol.mark_conflated(b'{"type":"event","seq":3}')
    assert orjson.loads(marked) == {"type": "event", "seq": 3, "conflated": True}


# --- writer ------------------------------------------------------------------------------


def test_redis_url_is_masked_in_the_settings_log(monkeypatch):
    from broadcaster.settings import GatewaySettings, IngestSettings

    url = "redis://:hunter2@cache:6379/0"
    monkeypatch.setenv("REDIS_URL", url)
    for settings in (IngestSettings(), GatewaySettings()):
        assert "hunter2" not in str(settings.model_dump(mode="json"))
    assert IngestSettings().redis_url.get_secret_value() == url
    assert GatewaySettings().redis_url.get_secret_value() == url

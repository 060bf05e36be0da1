"""The pure part of ending abandoned games: folding a producer's events, and what ends them."""

from __future__ import annotations

import itertools
import random

from inplay_events import BetEvent, GameEvent, OddsEvent, decode, encode
from producer.abandoned import REASON, Trail
from tests.producer.helpers import simulate

NOW = 1_800_000_000_000


def game(gid: str, seq: int, status: str, kind: str = "score", **extra) -> GameEvent:
    return GameEvent(
        id=f"{gid}-{seq}",
        game_id=gid,
        ts=1000 + seq,
        seq=seq,
        kind=kind,
        status=status,
        league="L",
        sport="football",
        home="H",
        away="A",
        start_time=500,
        score={"home": seq % 3, "away": 1},
        period=2,
        clock=seq * 60,
        **extra,
    )


def odds(gid: str, seq: int, market: str, status: str = "open", price: float = 2.5) -> OddsEvent:
    line = None if market.endswith("mw") else 1.5
    kind = "match_winner" if line is None else "total"
    return OddsEvent(
        id=f"{gid}-{seq}",
        game_id=gid,
        ts=1000 + seq,
        seq=seq,
        market_id=market,
        kind=kind,
        line=line,
        status=status,
        prices={"a": price, "b": 1.5},
    )


def bet(gid: str, seq: int) -> BetEvent:
    return BetEvent(
        id=f"{gid}-{seq}",
        game_id=gid,
        ts=1000 + seq,
        seq=seq,
        bet_id=f"b{seq}",
        account_id="acc",
        market_id=f"{gid}-mw",
        selection_id="a",
        stake=100,
        price=2.5,
    )


def new_ids():
    counter = itertools.count(1)
    return lambda: f"new-{next(counter)}"


def test_only_games_whose_newest_status_is_not_terminal_are_unfinished():
    trail = Trail()
    for e in [
        game("live", 1, "scheduled", "scheduled"),
        game("live", 2, "live", "started"),
        game("settled", 1, "live", "started"),
        game("settled", 2, "settled", "settled", results={}),
        game("cancelled", 1, "cancelled", "cancelled"),
        game("finished", 1, "finished", "finished"),
        game("suspended", 1, "suspended", "suspended"),
        game("scheduled", 1, "scheduled", "scheduled"),
    ]:
        trail.add(e)
    assert trail.unfinished() == ["finished", "live", "scheduled", "suspended"]


def test_newest_means_highest_seq_whatever_the_order_folded():
    trail = Trail()
    trail.add(game("g", 3, "settled", "settled", results={}))
    trail.add(game("g", 2, "live"))
    assert trail.unfinished() == []
    trail = Trail()
    trail.add(game("g", 5, "live"))
    trail.add(game("g", 4, "settled", "settled", results={}))  # older, though folded later
    assert trail.unfinished() == ["g"]


def test_a_game_seen_only_through_odds_or_bets_is_not_ended():
    trail = Trail()
    trail.add(odds("g", 1, "g-mw"))
    trail.add(bet("g", 2))
    assert trail.unfinished() == [] and trail.endings(NOW, new_ids()) == []


def test_ending_cancels_the_game_as_last_seen_then_settles_its_open_markets():
    trail = Trail()
    last = game("g", 4, "live")
    for e in [
        game("g", 1, "scheduled", "scheduled"),
        odds("g", 2, "g-mw", price=3.0),
        odds("g", 3, "g-tot"),
        last,
        odds("g", 5, "g-mw", "suspended", price=2.75),
        odds("g", 6, "g-mw", price=9.0),  # newest price of g-mw
        odds("g", 7, "g-hc", "settled"),  # already settled: nothing to say about it
        bet("g", 9),  # the highest seq of the game is a bet's
        odds("g", 8, "g-tot", "closed"),
    ]:
        trail.add(e)
    cancelled, *settled = trail.endings(NOW, new_ids())
    assert isinstance(cancelled, GameEvent)
    assert (cancelled.kind, cancelled.status) == ("cancelled", "cancelled")
    assert cancelled.reason == REASON == "abandoned"
    assert (cancelled.seq, cancelled.ts, cancelled.id) == (10, NOW, "new-1")
    kept = ("game_id", "league", "sport", "home", "away", "start_time", "score", "period", "clock")
    assert all(getattr(cancelled, f) == getattr(last, f) for f in kept)
    # Every market is void, as when the simulator calls a game off.
    assert cancelled.results == {"g-hc": None, "g-mw": None, "g-tot": None}
    assert [(o.market_id, o.seq, o.status, o.id, o.ts) for o in settled] == [
        ("g-mw", 11, "settled", "new-2", NOW),
        ("g-tot", 12, "settled", "new-3", NOW),
    ]
    assert settled[0].prices == {"a": 9.0, "b": 1.5} and settled[1].line == 1.5
    # They are valid contract events, unchanged by an encode/decode round trip.
    assert [decode(encode(e)) for e in [cancelled, *settled]] == [cancelled, *settled]


def test_endings_of_several_games_each_continue_their_own_seq():
    trail = Trail()
    for e in [game("a", 1, "scheduled", "scheduled"), game("b", 7, "live"), bet("b", 8)]:
        trail.add(e)
    out = trail.endings(NOW, new_ids())
    assert [(e.game_id, e.seq, e.type) for e in out] == [("a", 2, "game"), ("b", 9, "game")]
    assert out[0].results == {}
    assert len({e.id for e in out}) == 2


def test_ending_a_simulated_run_matches_what_its_own_cancellation_looks_like():
    # A real stream, folded shuffled: the open games end the way the simulator cancels one.
    events = simulate(4000, games=6)
    shuffled = list(events)
    random.Random(3).shuffle(shuffled)
    trail = Trail()
    for e in shuffled:
        trail.add(e)
    out = trail.endings(NOW, new_ids())
    live = {e.game_id for e in events if isinstance(e, GameEvent)}
    assert {e.game_id for e in out} == live and live
    for gid in live:
        mine = [e for e in events if e.game_id == gid]
        ending = [e for e in out if e.game_id == gid]
        markets = {e.market_id for e in mine if isinstance(e, OddsEvent)}
        assert ending[0].seq == max(e.seq for e in mine) + 1
        assert [e.seq for e in ending] == list(range(ending[0].seq, ending[0].seq + len(ending)))
        assert set(ending[0].results) == markets
        assert {e.market_id for e in ending[1:]} == markets

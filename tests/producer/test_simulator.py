"""The pure simulator: determinism, ids, seq, lifecycle, bet stops, bets and rate."""

from __future__ import annotations

from collections import defaultdict

import pytest

from inplay_events import BetEvent, GameEvent, OddsEvent, decode, encode
from producer.simulator.game import BET_STOP_MS
from tests.producer.helpers import START_MS, simulate, without_id

# Enough logical time at the default knobs for several games to settle.
SIX_MINUTES_MS = 360_000


@pytest.fixture(scope="module")
def long_run():
    """Six minutes of a default-knob simulation, reused by the read-only tests."""
    return simulate(until_ms=SIX_MINUTES_MS, seed=42)


def test_same_inputs_give_same_events_apart_from_ids():
    a = simulate(20_000, seed=7, nonce="aaa")
    b = simulate(20_000, seed=7, nonce="bbb")
    assert without_id(a) == without_id(b)
    assert {e.id for e in a}.isdisjoint(e.id for e in b)


def test_different_seeds_differ():
    assert without_id(simulate(2_000, seed=1)) != without_id(simulate(2_000, seed=2))


def test_run_id_and_start_shape_ids_and_times():
    a = simulate(50, run_id="runA", start_ms=1_000)
    assert all(e.game_id.startswith("runA-") for e in a)
    assert a[0].ts == 1_000


def test_default_nonce_makes_ids_unique_across_runs():
    from producer.simulator import SimConfig, Simulator

    config = SimConfig(seed=3, run_id="t", start_ms=0)
    first = [e.id for _, e in zip(range(1000), Simulator(config), strict=False)]
    second = [e.id for _, e in zip(range(1000), Simulator(config), strict=False)]
    assert len(set(first)) == 1000
    assert set(first).isdisjoint(second)


def test_every_event_round_trips_through_the_codec(long_run):
    for e in long_run:
        assert decode(encode(e)) == e


def test_seq_per_game_starts_at_one_and_steps_by_one(long_run):
    seqs: dict[str, list[int]] = defaultdict(list)
    for e in long_run:
        seqs[e.game_id].append(e.seq)
    assert len(seqs) > 12
    for game_seqs in seqs.values():
        assert game_seqs == list(range(1, len(game_seqs) + 1))


def test_stream_is_time_ordered(long_run):
    ts = [e.ts for e in long_run]
    assert ts == sorted(ts)


def _games(events):
    by_game = defaultdict(list)
    for e in events:
        by_game[e.game_id].append(e)
    return by_game


def test_a_game_goes_from_scheduled_to_settled_with_all_results(long_run):
    settled = [
        evs
        for evs in _games(long_run).values()
        if any(getattr(e, "kind", None) == "settled" for e in evs)
    ]
    assert settled, "no game settled"
    for evs in settled:
        kinds = [e.kind for e in evs if isinstance(e, GameEvent)]
        assert kinds[0] == "scheduled" and kinds[1] == "started"
        assert kinds[-2:] == ["finished", "settled"]
        assert set(kinds) <= {"scheduled", "started", "score", "period", "finished", "settled"}
        final = next(e for e in evs if isinstance(e, GameEvent) and e.kind == "settled")
        markets = {e.market_id: e for e in evs if isinstance(e, OddsEvent)}
        assert len(markets) == 3
        assert {m.kind for m in markets.values()} == {"match_winner", "handicap", "total"}
        assert final.results is not None and set(final.results) == set(markets)
        home, away = final.score.home, final.score.away
        for mid, winner in final.results.items():
            m = markets[mid]
            if m.kind == "match_winner":
                expected = "draw" if home == away else ("home" if home > away else "away")
            elif m.kind == "handicap":
                expected = "home" if home + m.line > away else "away"
            else:
                expected = "over" if home + away > m.line else "under"
            assert winner == expected
        # After the finish, each market is closed once and then settled once, nothing else.
        finish = next(i for i, e in enumerate(evs) if getattr(e, "kind", None) == "finished")
        tail = [(e.market_id, e.status) for e in evs[finish:] if isinstance(e, OddsEvent)]
        assert sorted(tail) == sorted(
            [(mid, "closed") for mid in markets] + [(mid, "settled") for mid in markets]
        )
        assert not any(isinstance(e, BetEvent) for e in evs[finish:])


def test_match_winner_has_a_draw_only_where_the_sport_has_draws(long_run):
    sport_of = {e.game_id: e.sport for e in long_run if isinstance(e, GameEvent)}
    seen = set()
    for e in long_run:
        if isinstance(e, OddsEvent) and e.kind == "match_winner":
            sport = sport_of[e.game_id]
            seen.add(sport)
            expected = {"home", "away"} if sport == "ice_hockey" else {"home", "draw", "away"}
            assert set(e.prices) == expected
    assert {"football", "ice_hockey"} <= seen


def test_goal_suspends_markets_then_reopens_with_new_prices(long_run):
    goals = reopens = 0
    games = _games(long_run)
    for evs in games.values():
        for i, e in enumerate(evs):
            if not (isinstance(e, GameEvent) and e.kind == "score" and e.reason is None):
                continue
            nxt = evs[i + 1 : i + 4]
            if len(nxt) < 3:
                continue
            goals += 1
            assert all(
                isinstance(o, OddsEvent) and o.status == "suspended" and o.ts == e.ts for o in nxt
            )
            last_price = {}
            for o in evs[:i]:
                if isinstance(o, OddsEvent):
                    last_price[o.market_id] = o.prices
            assert all(o.prices == last_price[o.market_id] for o in nxt)
            # Until the next goal or the finish: no bets, and markets reopen 3-6 s later.
            reopened = []
            for o in evs[i + 4 :]:
                if isinstance(o, GameEvent) and o.kind in ("score", "finished"):
                    break
                assert not isinstance(o, BetEvent) or reopened
                if isinstance(o, OddsEvent) and o.status == "open":
                    reopened.append(o)
            if reopened:
                assert len({o.market_id for o in reopened[:3]}) == 3
                assert BET_STOP_MS[0] - 1 <= reopened[0].ts - e.ts <= BET_STOP_MS[1] + 1
                reopens += 1
    assert goals > 5 and reopens > 5


def test_bets_only_on_open_markets_at_the_current_price(long_run):
    state: dict[str, OddsEvent] = {}
    bets = 0
    accounts = set()
    for e in long_run:
        if isinstance(e, OddsEvent):
            state[e.market_id] = e
        elif isinstance(e, BetEvent):
            bets += 1
            market = state[e.market_id]
            assert market.status == "open"
            assert market.game_id == e.game_id
            assert e.price == market.prices[e.selection_id]
            assert 100 <= e.stake <= 500_000
            accounts.add(e.account_id)
    assert bets > 1000
    assert len(accounts) > 100


def test_default_knobs_show_a_whole_lifecycle_within_five_minutes(long_run):
    settled = [e for e in long_run if isinstance(e, GameEvent) and e.kind == "settled"]
    first = settled[0]
    assert first.ts - START_MS <= 300_000
    scheduled = next(e for e in long_run if e.game_id == first.game_id)
    assert scheduled.kind == "scheduled"
    # Staggered starts: the first games do not settle all at once.
    assert len({e.ts for e in settled[:4]}) == 4


def test_concurrent_games_stay_at_the_knob(long_run):
    live: set[str] = set()
    for e in long_run:
        if isinstance(e, GameEvent):
            if e.kind == "scheduled":
                live.add(e.game_id)
            elif e.kind in ("settled", "cancelled"):
                live.discard(e.game_id)
                # Its replacement is announced at the same moment, right after.
    assert len(live) == 12


def test_names_look_real(long_run):
    teams = {t for e in long_run if isinstance(e, GameEvent) for t in (e.home, e.away)}
    sports = {e.sport for e in long_run if isinstance(e, GameEvent)}
    leagues = {e.league for e in long_run if isinstance(e, GameEvent)}
    assert len(sports) >= 2 and len(leagues) >= 3 and len(teams) >= 20


@pytest.mark.parametrize("rate", [200, 1000])
def test_total_rate_follows_the_knob(rate):
    seconds = 60
    events = simulate(until_ms=seconds * 1000, seed=5, events_per_sec=rate)
    assert abs(len(events) / seconds - rate) / rate < 0.03


def test_speedup_scales_the_game_clock():
    fast = simulate(until_ms=400_000, seed=9, speedup=60, events_per_sec=20)
    slow = simulate(until_ms=400_000, seed=9, speedup=30, events_per_sec=20)

    def settled(evs):
        return sum(1 for e in evs if isinstance(e, GameEvent) and e.kind == "settled")

    assert settled(fast) > settled(slow)


def test_a_called_off_game_voids_its_markets():
    events = simulate(until_ms=3_600_000, seed=4, events_per_sec=5)
    cancelled = [e for e in events if isinstance(e, GameEvent) and e.kind == "cancelled"]
    assert cancelled
    for c in cancelled:
        evs = [e for e in events if e.game_id == c.game_id]
        assert [e.kind for e in evs if isinstance(e, GameEvent)] == ["scheduled", "cancelled"]
        assert c.status == "cancelled" and set(c.results.values()) == {None}
        after = evs[evs.index(c) + 1 :]
        assert sorted(o.market_id for o in after) == sorted(c.results)
        assert all(isinstance(o, OddsEvent) and o.status == "settled" for o in after)

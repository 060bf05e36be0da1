"""A restarted ``python -m producer`` against the real broker ends the games it abandoned."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from inplay_events import TOPICS, Event, GameEvent, OddsEvent, decode
from tests.kafka_reads import read_topics
from tests.producer.runs import finish, run_id, run_producer, start_producer

TERMINAL = {"settled", "cancelled"}
# Slow filler, few games: 3,000 events cover five minutes of game time, so some games have
# settled (or been called off) and others are still open when a run stops.
LONG = dict(sim_pace="false", sim_games=4, sim_events_per_sec=10)


@dataclass(frozen=True)
class Rec:
    """One record read back, with where it sits and who sent it."""

    topic: str
    partition: int
    offset: int
    producer: str | None
    event: Event

    @property
    def nonce(self) -> str:
        """The per-process part of the event id: which process made the event."""
        return self.event.id.rsplit("-", 1)[0]


async def read_all(bootstrap: str, prefixes: list[str]) -> list[Rec]:
    """Every record so far, in offset order, keyed by a game id starting with a prefix."""
    keys = tuple(p.encode() for p in prefixes)
    out = []
    for r in await read_topics(bootstrap, TOPICS):
        if r.key is not None and r.key.startswith(keys):
            producer = dict(r.headers).get("producer")
            name = producer.decode() if producer is not None else None
            out.append(Rec(r.topic, r.partition, r.offset, name, decode(r.value)))
    return sorted(out, key=lambda r: (r.topic, r.partition, r.offset))


def by_game(recs: list[Rec], prefix: str) -> dict[str, list[Rec]]:
    games: dict[str, list[Rec]] = defaultdict(list)
    for r in recs:
        if r.event.game_id.startswith(prefix + "-"):
            games[r.event.game_id].append(r)
    return games


def newest_game(recs: list[Rec]) -> GameEvent:
    return max((r.event for r in recs if isinstance(r.event, GameEvent)), key=lambda e: e.seq)


def split_run(recs: list[Rec]) -> tuple[list[Rec], list[Rec]]:
    """A game's records: those of the run that played it, and any that came later."""
    run = next(r.nonce for r in recs if getattr(r.event, "kind", None) == "scheduled")
    return [r for r in recs if r.nonce == run], [r for r in recs if r.nonce != run]


def check_ended(played: list[Rec], ending: list[Rec]) -> None:
    """``ending`` is what the producer sends for an abandoned game that ``played`` left."""
    last = newest_game(played)
    cancelled, *settled = [r.event for r in ending]
    assert isinstance(cancelled, GameEvent)
    assert (cancelled.kind, cancelled.status, cancelled.reason) == (
        "cancelled",
        "cancelled",
        "abandoned",
    )
    assert cancelled.seq == max(r.event.seq for r in played) + 1
    for field in ("league", "sport", "home", "away", "start_time", "score", "period", "clock"):
        assert getattr(cancelled, field) == getattr(last, field), field
    markets: dict[str, OddsEvent] = {}
    for r in played:
        if isinstance(r.event, OddsEvent):
            markets[r.event.market_id] = r.event  # offset order is seq order within a topic
    assert cancelled.results == dict.fromkeys(markets)
    assert [(o.market_id, o.status, o.prices) for o in settled] == [
        (m, "settled", markets[m].prices) for m in sorted(markets)
    ]
    assert [e.seq for e in settled] == [cancelled.seq + 1 + i for i in range(len(settled))]
    ids = {r.event.id for r in [*played, *ending]}
    assert len(ids) == len(played) + len(ending)


async def test_restart_ends_its_own_abandoned_games_first_and_no_one_elses(stack):
    bootstrap = stack.kafka_bootstrap
    mine, theirs = run_id("endp"), run_id("endq")
    r1, rq, r2, r3 = run_id("end1"), run_id("endq"), run_id("end2"), run_id("end3")
    first = await run_producer(
        bootstrap, producer_name=mine, sim_run_id=r1, sim_seed=21, sim_limit=3000, **LONG
    )
    assert first["ended_games"] == 0  # a name never used before has nothing to end
    other = await run_producer(
        bootstrap, producer_name=theirs, sim_run_id=rq, sim_seed=22, sim_limit=300, **LONG
    )
    assert other["ended_games"] == 0
    logs = await finish(
        await start_producer(
            bootstrap, producer_name=mine, sim_run_id=r2, sim_seed=23, sim_limit=300, **LONG
        )
    )
    second = next(r for r in logs if r["message"] == "summary")
    [line] = [r for r in logs if r["message"] == "ended abandoned games"]

    recs = await read_all(bootstrap, [r1, rq, r2])
    assert {r.producer for r in recs if r.event.game_id.startswith(rq)} == {theirs}
    assert {r.producer for r in recs if not r.event.game_id.startswith(rq)} == {mine}
    open_games = 0
    finished_games = 0
    endings: list[Rec] = []
    for gid, game in by_game(recs, r1).items():
        played, later = split_run(game)
        if newest_game(played).status in TERMINAL:
            finished_games += 1
            assert later == [], gid
        else:
            open_games += 1
            check_ended(played, later)
            endings.extend(later)
    # The seed gives both kinds, so both rules are exercised.
    assert open_games and finished_games
    assert line["games"] == second["ended_games"] == open_games
    assert line["events"] == second["ended_events"] == len(endings)
    assert second["delivered"] == second["total_sent"] + second["ended_events"]

    # Everything that ended a game is in its partition before the new run's first record.
    first_new: dict[tuple[str, int], int] = {}
    for r in recs:
        if r.event.game_id.startswith(r2):
            first_new.setdefault((r.topic, r.partition), r.offset)
    assert {(r.topic, r.partition) for r in endings} & set(first_new)
    for r in endings:
        assert r.offset < first_new.get((r.topic, r.partition), r.offset + 1), r

    # Another producer's games are left as they are, open ones included.
    theirs_games = by_game(recs, rq)
    assert any(newest_game(g).status not in TERMINAL for g in theirs_games.values())
    for game in theirs_games.values():
        assert split_run(game)[1] == []

    # A third run ends the second run's open games only: the first run's are ended already.
    third = await run_producer(
        bootstrap, producer_name=mine, sim_run_id=r3, sim_seed=24, sim_limit=100, **LONG
    )
    recs = await read_all(bootstrap, [r1, r2])
    for game in by_game(recs, r1).values():
        assert len([r for r in game if getattr(r.event, "reason", None) == "abandoned"]) <= 1
    open_second = 0
    for game in by_game(recs, r2).values():
        played, later = split_run(game)
        if newest_game(played).status not in TERMINAL:
            open_second += 1
            check_ended(played, later)
    assert third["ended_games"] == open_second > 0


async def test_replays_end_abandoned_games_too_unless_turned_off(stack, tmp_path):
    bootstrap = stack.kafka_bootstrap
    name, rid = run_id("endr"), run_id("endr")
    recording = tmp_path / "run.jsonl"
    await run_producer(
        bootstrap, "--record", str(recording), sim_run_id=rid, sim_seed=31, sim_limit=400, **LONG
    )
    replay = ("--replay", str(recording), "--no-pace")
    assert (await run_producer(bootstrap, *replay, producer_name=name))["ended_games"] == 0
    off = await run_producer(bootstrap, *replay, "--no-end-abandoned", producer_name=name)
    assert off["ended_games"] == 0
    recs = await read_all(bootstrap, [rid])
    assert not [r for r in recs if getattr(r.event, "reason", None) == "abandoned"]

    again = await run_producer(bootstrap, *replay, producer_name=name)
    recorded = [decode(line) for line in recording.read_bytes().splitlines()]
    newest: dict[str, GameEvent] = {}
    for e in recorded:
        if isinstance(e, GameEvent):
            newest[e.game_id] = e
    open_games = {gid for gid, e in newest.items() if e.status not in TERMINAL}
    assert open_games and again["ended_games"] == len(open_games)
    recs = await read_all(bootstrap, [rid])
    ended = [r for r in recs if getattr(r.event, "reason", None) == "abandoned"]
    assert {r.event.game_id for r in ended} == open_games
    assert {r.producer for r in ended} == {name}
    for r in ended:
        played = [e for e in recorded if e.game_id == r.event.game_id]
        assert r.event.seq == max(e.seq for e in played) + 1

"""Ingest's pure decisions: where a partition starts, when a rebuild ends, how calls are cut."""

from __future__ import annotations

import orjson
from aiokafka import TopicPartition

from broadcaster.ingest.batch import Read, chunks
from broadcaster.ingest.rebuild import Facts, Progress, Start, finished, lost, plan
from broadcaster.ingest.redis_scripts import ApplyConfig, Mark, batch_call
from inplay_events import decode
from tests.broadcaster.helpers import apply_args

TP = TopicPartition("odds", 0)
TP2 = TopicPartition("games", 1)
ODDS = {
    "v": 1,
    "id": "e2",
    "game_id": "g1",
    "ts": 2,
    "seq": 2,
    "type": "odds",
    "market_id": "m1",
    "kind": "match_winner",
    "line": None,
    "status": "open",
    "prices": {"home": 1.8, "away": 2.1},
}


def test_a_partition_never_committed_starts_at_its_log_start():
    assert plan(Facts(None, 5, 90, None)) == Start(5, None, 5, write_mark=True)
    # A mark of an older life of the partition (the group's offsets are gone) is reset.
    assert plan(Facts(None, 0, 90, 70)) == Start(0, None, 0, write_mark=True)


def test_a_redis_that_holds_what_was_committed_is_not_rebuilt():
    assert plan(Facts(40, 0, 90, 40)) == Start(40, None, 40, write_mark=False)
    # Applied past the commit before a crash: replayed from the commit, dedupe drops it.
    assert plan(Facts(40, 0, 90, 55)) == Start(40, None, 55, write_mark=False)


def test_an_empty_redis_is_rebuilt_from_the_log_start_up_to_the_commit():
    assert plan(Facts(40, 3, 90, None)) == Start(3, 40, 3, write_mark=True)


def test_an_older_redis_is_rebuilt_from_its_mark():
    assert plan(Facts(40, 3, 90, 25)) == Start(25, 40, 25, write_mark=False)
    # Retention removed part of what it lacks: from the oldest record left.
    assert plan(Facts(40, 30, 90, 25)) == Start(30, 40, 25, write_mark=False)


def test_nothing_retained_to_rebuild_goes_on_from_the_commit():
    # The commit at or below the log start (retention), or past the end (the one rule).
    assert plan(Facts(40, 40, 90, None)) == Start(40, None, 40, write_mark=True)
    assert plan(Facts(10, 40, 90, None)) == Start(10, None, 40, write_mark=True)
    assert plan(Facts(10_000, 0, 90, None)) == Start(10_000, None, 0, write_mark=True)
    assert plan(Facts(10_000, 0, 90, 80)) == Start(10_000, None, 80, write_mark=False)


def test_a_rebuild_ends_at_its_offset_or_at_a_log_that_ends_before_it():
    assert not finished(39, 40, 90)
    assert finished(40, 40, 90) and finished(41, 40, None)
    assert not finished(20, 40, None)
    assert finished(30, 40, 30) and not finished(29, 40, 30)


def test_marks_missing_or_lower_mean_redis_lost_them():
    assert not lost([b"40", b"7"], [40, 5])
    assert lost([None, b"7"], [40, 5])
    assert lost([b"39", b"7"], [40, 5])


def test_chunks_cut_at_the_size_and_carry_each_partitions_next_offset():
    e = decode(ODDS)
    reads = [Read(TP, 1, e), Read(TP, 2, None), Read(TP, 3, e), Read(TP2, 8, e), Read(TP2, 9, None)]
    out = chunks(reads, 2)
    assert [len(c.events) for c in out] == [2, 1]
    assert out[0].offsets == {TP: 3}
    assert out[1].offsets == {TP2: 9}
    # Nothing to apply still moves the marks on.
    alive_only = chunks([Read(TP, 4, None), Read(TP, 5, None)], 2)
    assert len(alive_only) == 1 and alive_only[0].events == [] and alive_only[0].offsets == {TP: 5}
    assert chunks([], 2) == []


def test_script_args_carry_quiet_mode_and_marks():
    config = ApplyConfig(history_maxlen=10, history_ttl_ms=1000, dedupe_ttl_ms=1000, user_bets=5)
    call = batch_call(
        [decode(ODDS)], "ep", config, quiet_since=77, marks_key="k", marks=[Mark("odds:0", 3, 9)]
    )
    fixed, events = apply_args(call)
    assert (fixed.quiet, fixed.quiet_since) == ("1", 77)
    # Offsets as strings: Lua numbers would print large ones in exponent form.
    assert orjson.loads(fixed.marks) == [["odds:0", "3", "9"]]
    assert call.keys[0] == "k" and len(events) == 1
    plain, _ = apply_args(batch_call([decode(ODDS)], "ep", config))
    assert (plain.quiet, plain.quiet_since, orjson.loads(plain.marks)) == ("0", 0, [])


def test_progress_reports_partitions_and_records():
    p = Progress()
    p.add(TP, 0, 100)
    p.add(TP2, 10, 20)
    p.read += 50
    p.finish(TP)
    p.drop({TP2})
    f = p.fields()
    assert not p.left and f["partitions"] == ["odds-0"] and f["interrupted"] == ["games-1"]
    assert f["records"] == 50 and f["records_expected"] == 110

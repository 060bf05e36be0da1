"""When the local broker's topics may be recreated: only once nothing is left to read."""

from __future__ import annotations

from aiokafka import TopicPartition

from stack.rotation import at_most, caught_up, lagging

A, B = TopicPartition("odds", 0), TopicPartition("odds", 1)


def test_every_group_at_every_log_end():
    assert caught_up({A: 10, B: 3}, {A: 10, B: 3}, {A: 10, B: 3})


def test_a_group_behind_on_one_partition():
    assert not caught_up({A: 10, B: 3}, {A: 10, B: 3}, {A: 10, B: 2})


def test_a_position_of_the_previous_log_is_not_caught_up():
    # The consumer has not noticed the last recreation: it may not have read these 3.
    assert not caught_up({A: 3}, {A: 2500})


def test_an_empty_partition_holds_nothing_to_lose():
    assert caught_up({A: 0, B: 4}, {A: 2500, B: 4}, {B: 4})


def test_a_group_that_never_committed_a_partition_with_records():
    assert not caught_up({A: 4}, {})


def test_restarted_means_no_position_beyond_the_empty_logs():
    empty = {A: 0, B: 0}
    assert at_most(empty, {A: 0, B: 0}) and at_most(empty, {A: -1}) and at_most(empty, {})
    assert not at_most(empty, {A: 0, B: 2500})


def test_who_is_behind_is_named():
    text = lagging({A: 10, B: 0}, {"fanout": {A: 10}, "timescale-sink": {A: 7, B: 5}})
    assert text == "timescale-sink odds-0 at 7 of 10"

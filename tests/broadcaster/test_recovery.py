"""The hub's decisions on plain values: snapshot-then-deltas and stream recovery (no I/O)."""

from __future__ import annotations

import itertools

import pytest

from broadcaster.gateway.recovery import Recovery, State, Step, Stream, Sync, Verdict
from broadcaster.protocol import Position

E, E2 = "e1", "e2"


# --- a channel's stream ------------------------------------------------------------------


def test_the_first_publication_is_taken_as_it_comes_then_seqs_must_follow():
    s: Stream[str] = Stream()
    assert s.position() is None
    assert s.offer(E, 7, "p7") is Verdict.NEXT
    assert (s.epoch, s.seq) == (E, 7) and s.position() == Position(E, 7)
    assert s.offer(E, 8, "p8") is Verdict.NEXT
    assert s.offer(E, 8, "p8") is Verdict.OLD
    assert s.offer(E, 3, "p3") is Verdict.OLD
    assert (s.seq, s.holding) == (8, False)


@pytest.mark.parametrize("epoch,seq", [(E, 10), (E2, 9), (E2, 1)])
def test_out_of_sequence_holds_the_channel_until_released(epoch, seq):
    s: Stream[str] = Stream()
    s.offer(E, 8, "p8")
    assert s.offer(epoch, seq, "first") is Verdict.RECOVER
    assert s.holding and (s.epoch, s.seq) == (E, 8)  # the read back starts here
    assert s.offer(epoch, seq + 1, "next") is Verdict.HELD
    assert s.offer(E, 9, "late") is Verdict.HELD  # held too: the read back decides
    s.move(epoch, seq - 1)
    assert s.release() == ["first", "next", "late"]
    assert not s.holding and s.release() == []


def test_what_was_held_is_offered_again_and_a_new_gap_holds_the_rest():
    """The hub's release loop: offer each held publication again, in order."""
    s: Stream[tuple[str, int]] = Stream()
    s.offer(E, 1, (E, 1))
    s.offer(E, 3, (E, 3))
    for seq in (4, 6, 7):
        s.offer(E, seq, (E, seq))
    s.move(E, 3)  # the read back covered 2 and 3
    verdicts = [s.offer(e, q, (e, q)) for e, q in s.release()]
    assert verdicts == [Verdict.OLD, Verdict.NEXT, Verdict.RECOVER, Verdict.HELD]
    assert s.holding and s.seq == 4
    s.move(E, 5)
    assert s.release() == [(E, 6), (E, 7)]


def test_a_reconnect_holds_every_channel_that_has_something_to_make_up():
    positioned: Stream[str] = Stream()
    positioned.offer(E, 1, "p1")
    assert positioned.reconnected(pending=False) is Recovery.READ_BACK and positioned.holding
    assert positioned.reconnected(pending=True) is None  # already recovering
    assert positioned.offer(E, 2, "p2") is Verdict.HELD
    fresh: Stream[str] = Stream()
    assert fresh.reconnected(pending=False) is None and not fresh.holding
    assert fresh.reconnected(pending=True) is Recovery.RESYNC and fresh.holding


# --- one subscription --------------------------------------------------------------------


def _stream(epoch: str, seq: int) -> Stream[str]:
    s: Stream[str] = Stream()
    s.offer(epoch, seq, "p")
    return s


def test_a_read_drops_what_it_covers_and_sends_the_rest_of_the_buffer():
    sub: Sync[str] = Sync()
    assert sub.state is State.READING
    for seq in (4, 5, 6, 7):
        assert sub.offer(E, seq, f"p{seq}") is Step.BUFFER
    assert sub.synced(E, 5) == ["p6", "p7"]
    assert (sub.state, sub.epoch, sub.through) == (State.CATCHING_UP, E, 7)


def test_catching_up_filters_until_exactly_at_the_channel():
    sub: Sync[str] = Sync()
    assert sub.synced(E, 5) == []
    channel = _stream(E, 3)  # publications 4 and 5 are still on their way
    assert not sub.caught_up(channel)
    assert sub.offer(E, 4, "p4") is Step.SKIP
    channel.offer(E, 4, "p4")
    assert not sub.caught_up(channel)
    channel.offer(E, 5, "p5")
    assert sub.offer(E, 5, "p5") is Step.SKIP
    assert sub.caught_up(channel) and sub.state is State.LIVE
    assert sub.offer(E, 6, "p6") is Step.SKIP  # live: the channel's fan-out feeds it


def test_a_conflating_subscription_goes_live_as_conflating():
    sub: Sync[str] = Sync(conflate=True)
    sub.synced(E, 3)
    assert sub.caught_up(_stream(E, 3)) and sub.state is State.CONFLATING


def test_no_going_live_while_the_channel_holds_or_in_another_epoch():
    sub: Sync[str] = Sync()
    sub.synced(E, 3)
    holding = _stream(E, 3)
    holding.offer(E, 9, "gap")
    assert not sub.caught_up(holding) and sub.state is State.CATCHING_UP
    assert not sub.caught_up(_stream(E2, 3))
    assert sub.offer(E, 4, "p4") is Step.SEND and sub.through == 4


def test_a_buffer_or_a_publication_in_another_epoch_starts_the_subscription_over():
    sub: Sync[str] = Sync()
    for epoch, seq in ((E, 4), (E, 5), (E2, 1), (E2, 2)):
        sub.offer(epoch, seq, f"{epoch}:{seq}")
    assert sub.synced(E, 3) == ["e1:4", "e1:5"]
    assert sub.state is State.READING  # read again; the rest is covered by that read
    assert sub.synced(E2, 2) == []
    assert sub.offer(E2, 3, "x") is Step.SEND
    assert sub.offer(E, 9, "y") is Step.READ_AGAIN and sub.state is State.READING


def test_a_stale_read_is_dropped_and_made_again():
    sub: Sync[str] = Sync()
    sub.offer(E, 4, "p4")
    assert sub.read_again() is False  # reading: its read is redone when it answers
    sub.offer(E, 5, "p5")
    assert sub.synced(E, 4) is None and sub.state is State.READING
    sub.offer(E, 7, "p7")
    assert sub.synced(E, 6) == ["p7"]  # only what came after the stale answer


def test_read_again_after_the_read_starts_a_read_now():
    sub: Sync[str] = Sync()
    sub.synced(E, 3)
    assert sub.read_again() is True and sub.state is State.READING
    assert sub.offer(E, 4, "p4") is Step.BUFFER
    assert sub.synced(E, 3) == ["p4"]
    assert sub.caught_up(_stream(E, 4))
    assert sub.read_again() is False and sub.state is State.LIVE  # follows the channel


def test_a_recovery_snapshot_goes_to_all_but_those_still_reading():
    reading: Sync[str] = Sync()
    assert reading.resnapshot(E2, 10) is False
    assert reading.synced(E, 3) is None  # its read may predate what was lost
    catching_up: Sync[str] = Sync()
    catching_up.synced(E, 5)
    assert catching_up.resnapshot(E2, 10) is True
    assert (catching_up.epoch, catching_up.through) == (E2, 10)
    assert catching_up.caught_up(_stream(E2, 10))
    assert catching_up.resnapshot(E2, 12) is True  # live
    ended: Sync[str] = Sync()
    ended.end()
    assert ended.state is State.ENDED and ended.resnapshot(E2, 10) is False
    assert ended.offer(E, 1, "p1") is Step.SKIP and ended.read_again() is False


def test_a_read_answering_for_a_subscription_not_reading_is_a_bug():
    sub: Sync[str] = Sync()
    sub.synced(E, 1)
    with pytest.raises(RuntimeError):
        sub.synced(E, 2)


def _client_gets(before: int, read: int, arrived: int, total: int) -> tuple[list[int], State]:
    """Drive a stream and one subscription as the hub does; the seqs the client gets.

    ``before`` publications reached the channel before the subscription; its read reflects
    seq ``read``; publications up to ``arrived`` reached the channel before its answer.
    """
    channel: Stream[int] = Stream()
    sub: Sync[int] = Sync()
    got: list[int] = []

    def publish(seq: int) -> None:
        assert channel.offer(E, seq, seq) is Verdict.NEXT
        if sub.state is State.LIVE:
            got.append(seq)
            return
        step = sub.offer(E, seq, seq)
        if step is Step.SEND:
            got.append(seq)
        if step is not Step.BUFFER:
            sub.caught_up(channel)

    for seq in range(1, before + 1):
        channel.offer(E, seq, seq)
    for seq in range(before + 1, arrived + 1):
        publish(seq)
    later = sub.synced(E, read)
    assert later is not None
    got += [read, *later]  # the snapshot at ``read``, then what was buffered past it
    sub.caught_up(channel)
    for seq in range(arrived + 1, total + 1):
        publish(seq)
    return got, sub.state


def test_snapshot_then_deltas_without_gap_or_duplicate_in_every_interleaving():
    total = 6
    for before, read, arrived in itertools.product(range(total + 1), repeat=3):
        # The read is issued after the subscription, so it reflects all it found delivered.
        if read < before or arrived < before:
            continue
        got, final = _client_gets(before, read, arrived, total)
        assert got == list(range(read, total + 1)), (before, read, arrived, got)
        assert final is State.LIVE

"""Pure parts of the process edge: pacing, stop rule, throughput, recordings, settings, CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

from inplay_events import encode
from producer.cli import flag_for, parse_overrides
from producer.pacing import Pacer, StopRule
from producer.recording import BadLine, Recorded, read_recording
from producer.settings import Settings
from producer.stats import Throughput
from tests.producer.helpers import simulate


def test_pacer_waits_for_ts_gaps_from_the_first_event():
    pacer = Pacer()
    assert pacer.delay(5_000, now_s=100.0) == 0.0
    assert pacer.delay(5_500, now_s=100.1) == pytest.approx(0.4)
    assert pacer.delay(5_500, now_s=100.6) == 0.0  # late: due at once


def test_stop_rule_limit_and_duration():
    assert StopRule(limit=3).done_before(0, sent=3, elapsed_s=0)
    assert not StopRule(limit=3).done_before(0, sent=2, elapsed_s=0)
    rule = StopRule(duration_s=2, paced=False)
    assert not rule.done_before(1_000, sent=0, elapsed_s=99)  # unpaced: event time only
    assert not rule.done_before(2_999, sent=1, elapsed_s=99)
    assert rule.done_before(3_000, sent=2, elapsed_s=0)
    paced = StopRule(duration_s=2, paced=True)
    assert not paced.done_before(0, sent=0, elapsed_s=0)
    assert paced.done_before(10, sent=1, elapsed_s=2.0)


def test_throughput_reports_per_topic_rates_and_resets():
    stats = Throughput(now_s=0.0)
    for topic in ["odds"] * 8 + ["bets"] * 2:
        stats.add(topic)
    report = stats.report(now_s=2.0)
    assert report == {
        "events_per_sec": 5.0,
        "per_topic_per_sec": {"bets": 1.0, "odds": 4.0},
        "total_sent": 10,
    }
    assert stats.report(now_s=4.0)["events_per_sec"] == 0.0
    assert stats.summary(now_s=4.0)["per_topic"] == {"bets": 2, "odds": 8}


def test_read_recording_skips_bad_lines_with_their_number_and_reason():
    events = simulate(3)
    lines = [
        encode(events[0]) + b"\n",
        b"not json\n",
        b"\n",
        b'{"v": 1, "type": "odds", "id": "x"}\n',
        b'{"v": 1, "id": "a", "type": "alive", "producer": "p", "ts": 1}\n',
        encode(events[1]) + b"\n",
        encode(events[2]),
    ]
    items = list(read_recording(lines))
    good = [i for i in items if isinstance(i, Recorded)]
    bad = [i for i in items if isinstance(i, BadLine)]
    assert [g.event for g in good] == events
    assert [g.raw for g in good] == [encode(e) for e in events]
    assert [b.line_no for b in bad] == [2, 4, 5]
    assert "not JSON" in bad[0].reason and "missing" in bad[1].reason
    assert "alive" in bad[2].reason


def test_every_setting_has_a_flag_and_flags_override_env(monkeypatch):
    monkeypatch.setenv("SIM_GAMES", "5")
    monkeypatch.setenv("SIM_PACE", "true")
    monkeypatch.setenv("SIM_SEED", "")  # empty counts as unset
    overrides = parse_overrides(["--games", "7", "--no-pace", "--record", "/tmp/x.jsonl"])
    settings = Settings(**overrides)
    assert settings.sim_games == 7 and settings.sim_pace is False
    assert str(settings.sim_record) == "/tmp/x.jsonl" and settings.sim_seed is None
    assert Settings().sim_games == 5
    assert len({flag_for(name) for name in Settings.model_fields}) == len(Settings.model_fields)


def test_producer_name_and_ending_abandoned_games_have_flags():
    settings = Settings(**parse_overrides(["--producer-name", "feed-2", "--no-end-abandoned"]))
    assert settings.producer_name == "feed-2" and settings.end_abandoned is False
    assert Settings().producer_name == "sim" and Settings().end_abandoned is True
    for bad in ("", "two words", "x" * 41, "slash/y"):
        with pytest.raises(ValueError, match="producer_name"):
            Settings(producer_name=bad)


def test_help_documents_every_knob():
    out = subprocess.run(
        [sys.executable, "-m", "producer", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in Settings.model_fields:
        assert name.upper() in out and flag_for(name) in out


def test_bad_variable_exits_2_naming_it():
    env = {"SIM_EVENTS_PER_SEC": "-3", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "producer"], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 2
    assert "SIM_EVENTS_PER_SEC" in proc.stderr

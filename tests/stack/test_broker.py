"""The local Kafka's configuration and the errors a user sees before it starts."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from stack import broker
from stack.errors import StackError
from stack.settings import StackSettings


def test_a_missing_java_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on it
    settings = StackSettings(data_dir=tmp_path / "data")
    with pytest.raises(StackError) as caught:
        broker.start(settings)
    assert str(caught.value) == "java is not installed: run `make bootstrap` (installs OpenJDK 17)"


def test_single_node_settings_and_literal_addresses(tmp_path: Path):
    settings = StackSettings(data_dir=tmp_path, kafka_port=21092, partitions=3)
    props = broker.properties(settings)
    # Without these a one-node cluster's consumer groups never find a coordinator.
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:21092,CONTROLLER://127.0.0.1:21093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:21092"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:21093"
    assert props["log.dirs"] == str(tmp_path / "kafka" / "data")
    assert props["num.partitions"] == "3"
    written = broker.write_properties(settings).read_text().splitlines()
    assert "auto.create.topics.enable=false" in written


def test_cluster_ids_are_kafka_uuids():
    ids = {broker.new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for text in ids:
        assert len(text) == 22 and not text.startswith("-")
        assert len(base64.urlsafe_b64decode(text + "==")) == 16


def test_the_version_comes_from_the_jars_in_the_cache(tmp_path: Path):
    (tmp_path / "kafka_2.13-3.9.1.jar").write_bytes(b"")
    assert broker.version(tmp_path) == "3.9.1"
    with pytest.raises(StackError, match="jars are missing"):
        broker.version(tmp_path / "empty")

"""What the producer's ops port reports: its counts as metrics, and Kafka as its readiness."""

from __future__ import annotations

from dataclasses import dataclass

from inplay_events.ops_port import Metric, Values
from producer.kafka_sink import KafkaSink
from producer.stats import Throughput

METRICS = (
    Metric("events_produced", "Events handed to Kafka, per topic.", label="topic"),
    Metric("events_delivered", "Events the broker acknowledged."),
    Metric("events_failed", "Events whose delivery failed."),
    Metric("kafka_connected", "1 once connected to Kafka, 0 before and after.", kind="gauge"),
)


@dataclass(slots=True)
class ProducerView:
    """The numbers the run loop already keeps; ``stats`` appears once producing starts."""

    sink: KafkaSink
    connected: bool = False
    stats: Throughput | None = None

    def values(self) -> Values:
        """The current value of every metric in METRICS."""
        produced = dict(self.stats.total) if self.stats is not None else {}
        return {
            "events_produced": produced,
            "events_delivered": self.sink.delivered,
            "events_failed": self.sink.failed,
            "kafka_connected": int(self.connected),
        }

    async def kafka(self) -> str | None:
        """Ready once the producer is connected to Kafka."""
        return None if self.connected else "not connected to kafka"

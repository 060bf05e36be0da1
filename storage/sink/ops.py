"""What the sink's ops port reports: its counters and lag as metrics; Kafka, PostgreSQL and
lag as its readiness."""

from __future__ import annotations

from psycopg import AsyncConnection

from inplay_events.ops_port import Check, Values, lag_problem
from storage.sink.consumer import SinkConsumer
from storage.sink.metrics import Counters, ops_values
from storage.sink.writer import Writer

# Below the ops port's own check timeout, so a silent database reads as "timeout" from psycopg.
CONNECT_TIMEOUT_S = 1


class SinkView:
    """Reads the sink's counters and consumer; a readiness probe opens its own connection
    (the writer's belongs to the batch loop)."""

    def __init__(
        self, counters: Counters, consumer: SinkConsumer, writer: Writer, dsn: str, max_lag: int
    ) -> None:
        self._counters = counters
        self._consumer = consumer
        self._writer = writer
        self._dsn = dsn
        self._max_lag = max_lag

    def values(self) -> Values:
        """The current value of every metric in OPS_METRICS."""
        return ops_values(self._counters, self._consumer.lag, self._writer.retries)

    def checks(self) -> dict[str, Check]:
        """Kafka (answers, partitions assigned), PostgreSQL (SELECT 1), lag."""
        return {"kafka": self._kafka, "postgres": self._postgres, "lag": self._lag}

    async def _kafka(self) -> str | None:
        # SinkConsumer has no public view of its aiokafka consumer yet; read-only use here.
        kafka = self._consumer._consumer
        await kafka.topics()  # a metadata round trip: the broker answers
        return None if kafka.assignment() else "no partitions assigned"

    async def _postgres(self) -> str | None:
        conn = await AsyncConnection.connect(self._dsn, connect_timeout=CONNECT_TIMEOUT_S)
        try:
            await conn.execute("SELECT 1")
        finally:
            await conn.close()
        return None

    async def _lag(self) -> str | None:
        return lag_problem(self._consumer.lag, self._max_lag)

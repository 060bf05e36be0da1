"""The Kafka edge: an aiokafka producer that sends encoded events keyed by game id."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError

# Small batches a few ms apart: low latency when paced, big batches when flat out.
LINGER_MS = 5
MAX_BATCH_BYTES = 512 * 1024
CONNECT_TIMEOUT_S = 60.0
# Only the first few delivery failures are logged one by one; the summary counts all.
MAX_LOGGED_FAILURES = 10
# Every record names the producer that sent it, so a restarted one knows its own games.
PRODUCER_HEADER = "producer"


class KafkaSink:
    """Sends without waiting for each delivery; failures are counted and logged."""

    def __init__(
        self, bootstrap_servers: str, idempotence: bool, producer_name: str, log: logging.Logger
    ) -> None:
        self._log = log
        self._headers = [(PRODUCER_HEADER, producer_name.encode())]
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id="inplay-producer",
            acks="all",
            enable_idempotence=idempotence,
            linger_ms=LINGER_MS,
            max_batch_size=MAX_BATCH_BYTES,
        )
        self.delivered = 0
        self.failed = 0

    async def start(self, stop: asyncio.Event) -> bool:
        """Connect, retrying while the broker is still coming up; False if ``stop`` came first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONNECT_TIMEOUT_S
        while True:
            try:
                await self._producer.start()
                return True
            except KafkaConnectionError as exc:
                if loop.time() > deadline:
                    await self._producer.stop()
                    raise
                self._log.warning("kafka not reachable yet, retrying", extra={"error": str(exc)})
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
                await self._producer.stop()
                return False
            except TimeoutError:
                pass

    async def send(self, topic: str, key: bytes, value: bytes) -> asyncio.Future[object]:
        """Queue one record; returns once it is in a batch (waits only when buffers are full)
        with the future of its delivery."""
        future = await self._producer.send(topic, value=value, key=key, headers=self._headers)
        future.add_done_callback(self._on_delivery)
        return future

    async def partitions(self, topic: str) -> list[TopicPartition]:
        """Every partition of ``topic``, from the broker's metadata."""
        ids = await self._producer.partitions_for(topic)
        return [TopicPartition(topic, p) for p in sorted(ids)]

    def _on_delivery(self, future: asyncio.Future[object]) -> None:
        if future.cancelled() or future.exception() is not None:
            self.failed += 1
            if self.failed <= MAX_LOGGED_FAILURES:
                error = "cancelled" if future.cancelled() else repr(future.exception())
                self._log.error("delivery failed", extra={"error": error})
        else:
            self.delivered += 1

    async def stop(self) -> None:
        """Flush what is queued and close the connection."""
        await self._producer.stop()

"""The dead-letter edge: records that cannot be stored go to DEAD_LETTER_TOPIC with the reason."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from inplay_events import DEAD_LETTER_TOPIC
from storage.sink.rows import DeadLetter

RETRY_PAUSE_S = 1.0


class DeadLetters:
    """Publishes dead letters and waits for the broker's acknowledgement of each."""

    def __init__(self, bootstrap_servers: str, idempotence: bool, log: logging.Logger) -> None:
        self._log = log
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id="inplay-sink-dead-letters",
            acks="all",
            enable_idempotence=idempotence,
        )
        self.sent = 0

    async def start(self) -> None:
        """Connect to the broker."""
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and disconnect."""
        await self._producer.stop()

    async def publish(self, letters: Sequence[DeadLetter]) -> None:
        """Send every letter, retrying until acknowledged.

        Called before the batch's transaction commits, so a crash in between re-sends the
        letter on replay: dead letters are at-least-once (stored rows stay exactly-once).
        """
        while letters:
            try:
                futures = [
                    await self._producer.send(DEAD_LETTER_TOPIC, letter.encode(), key=letter.key)
                    for letter in letters
                ]
                await asyncio.gather(*futures)
            except KafkaError as exc:
                self._log.warning(
                    "dead-letter topic unavailable, retrying", extra={"error": str(exc)}
                )
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            for letter in letters:
                self._log.warning(
                    "dead-lettered",
                    extra={
                        "topic": letter.topic,
                        "partition": letter.partition,
                        "offset": letter.offset,
                        "reason": letter.error.as_dict(),
                    },
                )
            self.sent += len(letters)
            return

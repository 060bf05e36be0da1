"""Kafka offsets kept in PostgreSQL (table consumer_offsets), next to the data they cover."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from psycopg import AsyncConnection

TopicPartition = tuple[str, int]


class StaleOffsets(Exception):
    """The stored offsets of these partitions are already at or past the batch's end.

    Another consumer of the group (or an earlier attempt whose commit did go through) wrote
    them; the batch's rows were rolled back and the partitions must resume from the store.
    """

    def __init__(self, partitions: set[TopicPartition]) -> None:
        self.partitions = partitions
        super().__init__(f"stored offsets moved on for {sorted(partitions)}")


async def load(
    conn: AsyncConnection, group: str, partitions: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    """Stored next offsets of ``partitions``; a partition never committed is absent."""
    wanted = set(partitions)
    cur = await conn.execute(
        "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer_group = %s",
        (group,),
    )
    return {(t, p): n for t, p, n in await cur.fetchall() if (t, p) in wanted}


async def commit(
    conn: AsyncConnection, group: str, next_offsets: Mapping[TopicPartition, int]
) -> None:
    """Store the next offsets inside the caller's transaction; offsets only move forward.

    Raises ``StaleOffsets`` (the caller rolls back) when a stored offset is already at or past
    the batch's: committing would repeat the batch's rollups or move the offset backwards.
    """
    if not next_offsets:
        return
    topics, parts, offsets = zip(*((t, p, n) for (t, p), n in next_offsets.items()), strict=True)
    cur = await conn.execute(
        "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset)"
        " SELECT %s, t, p, n FROM unnest(%s::text[], %s::int[], %s::bigint[]) AS u(t, p, n)"
        " ON CONFLICT (consumer_group, topic, partition) DO UPDATE"
        " SET next_offset = EXCLUDED.next_offset"
        " WHERE consumer_offsets.next_offset < EXCLUDED.next_offset"
        " RETURNING topic, partition",
        (group, list(topics), list(parts), list(offsets)),
    )
    moved = {(t, p) for t, p in await cur.fetchall()}
    if len(moved) < len(next_offsets):
        raise StaleOffsets(set(next_offsets) - moved)


async def reset_to_start(
    conn: AsyncConnection, group: str, tp: TopicPartition, stale: int, start: int
) -> bool:
    """Move a stored offset outside the log to the log start, if it still reads ``stale``."""
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE consumer_offsets SET next_offset = %s"
            " WHERE consumer_group = %s AND topic = %s AND partition = %s AND next_offset = %s",
            (start, group, tp[0], tp[1], stale),
        )
        return cur.rowcount == 1

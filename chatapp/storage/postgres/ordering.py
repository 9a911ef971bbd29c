"""The ordering point: shards, and the rule that makes ids commit in id order within one.

Ids drawn from a sequence are not committed in id order across sessions: a transaction
that drew id 10 may commit after one that drew 11, and a reader following ``id > cursor``
that saw 11 first would never see 10. So every room belongs to one of :data:`SHARDS`
shards (:func:`shard_of`: the first 32 bits of the MD5 of its name, modulo the count, the
same formula as the schema's ``chatapp_shard()``), and a transaction that adds messages or
room events first locks its rooms' rows of the ``shards`` table, in ascending shard order
(so two transactions never wait on each other in a circle), and only then draws ids; it
holds the locks until it commits. Within a shard, then, a transaction that draws ids after
another also commits after it, and ``shard = s AND id > cursor`` is a gap-free way to follow
the log. The schema's ``chatapp_log_row()`` trigger takes the same lock and draws the id
itself, so even a row inserted by hand keeps the rule. After commit the writer sends
``NOTIFY chatapp_log, '<shard>'`` for each shard it wrote, to wake the nodes that follow it.

The sequence must hand ids out one at a time (``CACHE 1``): with a cache, each session holds
a block of ids and the rule no longer holds. :func:`check_schema` refuses to start otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import asyncpg

from ..records import MigrationError

SHARDS = 16  # also in migrations/postgres/0001_initial.sql (the shards rows, chatapp_shard)
LOG_CHANNEL = "chatapp_log"  # NOTIFY channel; the payload is the shard number
SEQUENCE = "log_ids"
# Turns the shard lock off in the schema's trigger too; only for the test that shows what
# the lock prevents (PostgresStorage(shard_lock=False)).
UNORDERED_SETTING = "chatapp.unordered"


def shard_of(room: str) -> int:
    """The room's shard, as the schema's ``chatapp_shard(room)`` computes it."""
    return int.from_bytes(hashlib.md5(room.encode("utf-8")).digest()[:4], "big") % SHARDS


def shards_of(rooms: Iterable[str]) -> list[int]:
    """The shards of ``rooms``, ascending: the order their locks are taken in."""
    return sorted({shard_of(room) for room in rooms})


async def check_schema(conn: asyncpg.Connection) -> None:
    """Refuse to start when the database would not keep ids in commit order."""
    cache = await conn.fetchval(
        "SELECT cache_size FROM pg_sequences WHERE schemaname = current_schema() AND sequencename = $1",
        SEQUENCE)
    if cache != 1:
        raise MigrationError(
            f"sequence {SEQUENCE} has CACHE {cache}; chatapp needs CACHE 1 so ids commit in order "
            f"(ALTER SEQUENCE {SEQUENCE} CACHE 1)")
    count = await conn.fetchval("SELECT count(*) FROM shards")
    if count != SHARDS:
        raise MigrationError(f"the database has {count} shards; this chatapp uses {SHARDS}")
    probes = ["lobby", "general", "dm-1-2", "a"]
    found = await conn.fetch("SELECT chatapp_shard(r) FROM unnest($1::text[]) WITH ORDINALITY AS t(r, n) "
                             "ORDER BY n", probes)
    if [int(r[0]) for r in found] != [shard_of(p) for p in probes]:
        raise MigrationError("the database's chatapp_shard() disagrees with this chatapp's shard_of()")

"""The cluster section of the storage interface, on whichever backend this pass runs: SQLite
(one shard, nothing to listen to) or PostgreSQL (16 shards, LISTEN/NOTIFY)."""

from __future__ import annotations

from chatapp.models import Message, RoomEvent, utc_now_iso
from chatapp.settings import Settings
from chatapp.storage import NewRow, open_storage


async def test_a_rooms_shard_log_holds_its_messages_and_changes_in_id_order(settings: Settings) -> None:
    store = await open_storage(settings.storage_target)
    try:
        await store.listen_log(lambda shard: None)
        shard = store.shard_of("lobby")
        assert 0 <= shard < store.shards and store.shard_of("lobby") == shard
        start = (await store.shard_heads())[shard]
        first, second = await store.insert_messages([
            NewRow("lobby", "ann", "hello", utc_now_iso(), "a"),
            NewRow("lobby", "bob", "hi ann", utc_now_iso(), "b"),
        ])
        reply, = await store.insert_messages([NewRow("lobby", "cat", "welcome", utc_now_iso(), "c",
                                                     reply_to=first.id)])
        edit = await store.edit_message("lobby", second.id, "hi, ann", utc_now_iso(), "<p>hi, ann</p>")
        gone = await store.delete_message("lobby", first.id)
        assert edit is not None and gone is not None
        log = [x for x in await store.log_after_shard(shard, start, 100) if x.room == "lobby"]
        assert [x.id for x in log] == [second.id, reply.id, edit.id, gone.id]  # the deleted one is gone
        assert [type(x) for x in log] == [Message, Message, RoomEvent, RoomEvent]
        assert isinstance(log[1], Message) and log[1].reply_to == first.id and log[1].reply_user is None
        assert [x.id for x in await store.log_after_shard(shard, reply.id, 1)] == [edit.id]
        assert (await store.shard_heads())[shard] == gone.id
        await store.unlisten_log()
    finally:
        await store.close()

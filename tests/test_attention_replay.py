"""What is told while a sidebar or a guest's watch list is being read: replayed once the read
is sent, unless the read counted it already. The database read is wrapped so that the writer
tells of a message at the moment the race puts it (on PostgreSQL a message can be committed,
and seen by the read, before the writer task has told attention of it)."""

from __future__ import annotations

from typing import Any

import pytest

from chatapp.attention import ATTENTION
from chatapp.keys import STORE, WRITER
from chatapp.writer import Stored

from .attention_client import Client, members, open_page, sidebar, until


class Racing:
    """Wraps one read of the store: before it, attention is told of ``counted`` (committed
    already, so the read has it); after it, ``late`` is stored and told (the read missed it)."""

    def __init__(self, client: Client, counted: Stored) -> None:
        self.app = client.server.app
        self.counted = counted
        self.late: Stored | None = None

    def wrap(self, monkeypatch: pytest.MonkeyPatch, method: str) -> None:
        read = getattr(self.app[STORE], method)

        async def racing(*args: Any) -> Any:
            self.app[ATTENTION].observe([self.counted])  # the writer telling of it only now
            result = await read(*args)
            self.late = await self.app[WRITER].submit("lobby", "alice", "after the read", None)
            return result

        monkeypatch.setattr(self.app[STORE], method, racing)


async def test_a_guest_gets_what_its_watch_read_missed_and_not_what_it_counted(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    counted = await client.server.app[WRITER].submit("lobby", "alice", "counted by the read", None)
    race = Racing(client, counted)
    race.wrap(monkeypatch, "watch_counts")
    guest = await client.ws_connect("/ws/random")
    await guest.send_json({"type": "watch", "rooms": {"lobby": 0}})
    watching, _ = await until(guest, "watching")
    assert watching["rooms"]["lobby"] == {"unread": 1, "latest": counted.message.id}
    activity, before = await until(guest, "activity")
    assert race.late is not None
    assert before == [] and activity["id"] == race.late.message.id


async def test_a_members_sidebar_gets_what_its_read_missed_and_not_what_it_counted(
        client: Client, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    (bob,) = await members(client, aiohttp_client, "bob")
    await (await open_page(bob, "lobby")).close()  # lobby is in bob's sidebar from now on
    counted = await client.server.app[WRITER].submit("lobby", "alice", "counted by the read", None)
    assert (await bob.get("/rooms/random")).status == 200  # the page reads the sidebar too: not raced
    race = Racing(client, counted)
    race.wrap(monkeypatch, "sidebar")
    ws = await bob.ws_connect("/ws/random", params={"sidebar": "1"})  # then its socket asks for it
    rooms = await sidebar(ws)
    assert (rooms["lobby"]["unread"], rooms["lobby"]["latest"]) == (1, counted.message.id)
    activity, before = await until(ws, "activity")
    assert race.late is not None
    assert before == [] and activity["id"] == race.late.message.id

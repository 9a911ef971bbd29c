"""Resuming sockets share a room's first page while nothing is published to it
(chatapp/resume.py), and never miss what was published after it was read."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatapp import resume
from chatapp.keys import HUB, STORE
from chatapp.resume import ResumePages

from .conftest import recv, recv_chats


def test_a_kept_page_serves_until_its_room_changes_and_a_read_overlapping_a_publish_is_not_kept() -> None:
    pages: ResumePages[str] = ResumePages()
    begun = pages.begin()
    pages.keep("lobby", 10, begun, "page")
    assert pages.get("lobby", 10) == "page"
    assert pages.get("lobby", 11) is None and pages.get("other", 10) is None
    pages.changed("other")  # another room: this one's page still stands
    assert pages.get("lobby", 10) == "page"
    pages.changed("lobby")
    assert pages.get("lobby", 10) is None

    begun = pages.begin()
    pages.changed("elsewhere")  # published while the read ran, in any room: not kept
    pages.keep("lobby", 10, begun, "late")
    assert pages.get("lobby", 10) is None


def test_kept_pages_are_bounded_in_number_and_age(monkeypatch: pytest.MonkeyPatch) -> None:
    pages: ResumePages[int] = ResumePages()
    for i in range(resume.PAGES + 5):
        pages.keep(f"room{i}", 0, pages.begin(), i)
    assert sum(pages.get(f"room{i}", 0) is not None for i in range(resume.PAGES + 5)) <= resume.PAGES
    pages.keep("lobby", 0, pages.begin(), 1)
    monkeypatch.setattr(resume, "MAX_AGE", -1.0)
    assert pages.get("lobby", 0) is None


async def test_sockets_resuming_alike_share_one_read_and_one_after_a_publish_reads_again(
        client: TestClient[Any, Any], ws_connect: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sender = await ws_connect("lobby")
    for i in range(3):
        await sender.send_json({"message": f"m{i}"})
    first, *_ = await recv_chats(sender, 3)
    store = client.app[STORE]
    reads: list[tuple[str, int]] = []
    real = store.log_after

    async def counted(room: str, after: int, limit: int) -> Any:
        reads.append((room, after))
        return await real(room, after, limit)

    monkeypatch.setattr(store, "log_after", counted)

    async def resumed(probe: str) -> list[str]:
        ws = await ws_connect("lobby", after=first["id"])
        # The resume, then a probe sent on this socket: whatever came before the probe's echo.
        await ws.send_json({"message": probe})
        texts = []
        while (frame := await recv(ws))["message"] != probe:
            texts.append(frame["message"])
        await ws.close()
        return texts

    assert await resumed("probe 1") == ["m1", "m2"]
    shared_before = len(reads)
    # The probe was published to the room: the next socket reads again, and gets it too.
    assert await resumed("probe 2") == ["m1", "m2", "probe 1"]
    assert len(reads) > shared_before

    # Two sockets in a row with nothing published between them: one read for both.
    client.app[HUB].resume.changed("lobby")
    one = await ws_connect("lobby", after=first["id"])
    got_one = [f["message"] for f in await recv_chats(one, 4)]  # its page is read, and kept
    reads_after_one = len(reads)
    two = await ws_connect("lobby", after=first["id"])
    got_two = [f["message"] for f in await recv_chats(two, 4)]
    assert got_one == got_two == ["m1", "m2", "probe 1", "probe 2"]
    assert len(reads) == reads_after_one, reads  # the second socket used the first one's page

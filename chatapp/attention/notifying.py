"""Whom ``keys.NOTIFY`` is asked to tell about a message, and why (chatapp.notify).

Each member is told once per message, for the strongest reason that applies: a ``mention``
(their name), ``here`` (an @here while they were in the room), ``dm`` (a DM's other member),
``message`` (they chose "all" for the room). Their level for the room rules: "nothing" is
never told, "mentions" only of mentions and @here, "all" of everything (a DM's default, so
a mention in a DM is told as the DM message it is). A private room's messages reach only
its members. Only enqueues (the notifier's contract): called in the writer's publish path.
"""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web

from ..keys import NOTIFY
from ..models import Message
from .levels import Levels


def dm_members(room: str) -> tuple[int, int] | None:
    """The two member ids a DM's name holds (``dm-<low>-<high>``)."""
    parts = room.split("-")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return int(parts[1]), int(parts[2])


class Notifications:
    def __init__(self, app: web.Application, levels: Levels) -> None:
        self._app = app
        self._levels = levels

    def mentioned(self, m: Message, visibility: str, members: set[int], here: Collection[int],
                  allowed: Collection[int] | None) -> None:
        """After a message's mentions were recorded: ``members`` were named or @here'd."""
        notifier = self._app.get(NOTIFY)
        if notifier is None:
            return
        by_reason: dict[str, set[int]] = {"mention": set(), "here": set()}
        for member_id in members:
            level = self._levels.level(member_id, m.room, visibility)
            if level == "nothing" or (visibility == "dm" and level == "all"):
                continue  # told nothing, or told as a DM message below
            by_reason["here" if member_id in here else "mention"].add(member_id)
        told: set[int] = set()
        for reason, ids in by_reason.items():
            if ids:
                notifier.notify(m.room, m, ids, reason)
                told |= ids
        self.plain(m, visibility, allowed, told)

    def plain(self, m: Message, visibility: str, allowed: Collection[int] | None, told: set[int]) -> None:
        """A DM's other member (level "all", the default), and members who chose "all"."""
        notifier = self._app.get(NOTIFY)
        if notifier is None:
            return
        if visibility == "dm":
            pair = dm_members(m.room)
            if pair is None or m.member_id not in pair:
                return
            other = pair[1] if pair[0] == m.member_id else pair[0]
            if other not in told and self._levels.level(other, m.room, "dm") == "all":
                notifier.notify(m.room, m, {other}, "dm")
            return
        everyone = self._levels.everything_in(m.room) - told
        if m.member_id is not None:
            everyone.discard(m.member_id)
        if allowed is not None:
            everyone &= set(allowed)
        if everyone:
            notifier.notify(m.room, m, everyone, "message")

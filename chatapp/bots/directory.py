"""Which bots there are, as the server keeps them in memory, and which rooms a bot may use.

:class:`BotDirectory` holds every bot (a handful: it is read whole from the database), so
the webhook observer can tell in one dict lookup whether a mention names a bot with a
webhook, and costs nothing at all while no bot has one. It is reloaded whenever this
process changes a bot, and every few seconds for bots made or changed by another process
(``chatapp bots create`` beside a running server). Posting does not trust it: a token is
checked against the database on every request, so a revoked token stops at once.

The bots' names join the member names guests may not use (:class:`~chatapp.accounts.names.MemberNames`).

Who may use which room (:func:`may_use`): a bot with no room list may post in, and hear
mentions from, every public room; a bot with a list, only the rooms on it, a private room
included (an admin listed it). A DM is its two members' alone: never a bot's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable

from aiohttp import web

from ..accounts import MEMBER_NAMES
from ..keys import STORE
from ..privacy import PRIVATE_ROOMS, is_dm_name
from ..storage import StorageError
from ..storage.records import Bot

log = logging.getLogger(__name__)

REFRESH = 5.0  # seconds between looks for bots changed by another process


class BotDirectory:
    def __init__(self) -> None:
        self._by_id: dict[int, Bot] = {}
        self._hooked: dict[str, Bot] = {}  # lower-case name -> active bot with a webhook

    def load(self, bots: Iterable[Bot]) -> None:
        self._by_id = {b.id: b for b in bots}
        self._hooked = {b.name.lower(): b for b in self._by_id.values()
                        if b.revoked_at is None and b.webhook_url}

    @property
    def hooked(self) -> bool:
        """Whether any bot has a webhook (when not, the observer returns at once)."""
        return bool(self._hooked)

    def hooked_bot(self, lower_name: str) -> Bot | None:
        return self._hooked.get(lower_name)

    def get(self, bot_id: int) -> Bot | None:
        return self._by_id.get(bot_id)

    def __len__(self) -> int:
        return len(self._by_id)


BOTS = web.AppKey("bots", BotDirectory)


def may_use(bot: Bot, room: str, visibility: str) -> bool:
    """Whether ``bot`` may post in ``room`` (of that visibility) and hear mentions from it."""
    if visibility == "dm" or bot.revoked_at is not None:
        return False
    if bot.limited:
        return room in bot.rooms
    return visibility == "public"


def visibility_hint(app: web.Application, room: str) -> str:
    """The room's visibility as kept in memory (no read): may say "private" for a private
    room deleted since, never "public" for one that is private."""
    return "dm" if is_dm_name(room) else app[PRIVATE_ROOMS].visibility(room)


async def visibility(app: web.Application, room: str) -> str:
    """:func:`visibility_hint`, confirmed by one read when it is not "public" (a private room
    deleted by an admin is public again once something is posted to its name)."""
    seen = visibility_hint(app, room)
    if seen != "private":
        return seen
    found = await app[STORE].room_access(room, 0)  # no member 0: only the visibility matters
    if found is None or found[0] == "public":
        app[PRIVATE_ROOMS].forget(room)
        return "public"
    return found[0]


async def reload(app: web.Application) -> None:
    """Read every bot again, after a change made in this process."""
    bots = await app[STORE].bots()
    app[BOTS].load(bots)
    names = app[MEMBER_NAMES]
    for bot in bots:
        names.add(bot.name_key)


async def keep_loaded(app: web.Application) -> AsyncIterator[None]:
    """The cleanup context: load at start, then look again every :data:`REFRESH` seconds."""
    await reload(app)
    log.info("%d bots", len(app[BOTS]))

    async def refresh() -> None:
        while True:
            await asyncio.sleep(REFRESH)  # a periodic look: no event crosses processes
            try:
                await reload(app)
            except StorageError as exc:
                log.warning("could not refresh bots: %s", exc)

    task = asyncio.create_task(refresh(), name="chatapp-bots-refresh")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

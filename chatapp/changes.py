"""Changes people make to messages already sent: edit, delete, react.

Each change runs as an operation of the batch writer, so it is ordered with the room's
messages and its moderation (an edit queued after a message applies after that message
is stored), and is written with its place in the room's log of changes (see
migrations/0010): a page that reconnects with ``after=`` is sent it once, in order.

Who may do what (docs/protocol.md, "Edits, deletes and reactions"): members edit and
delete their own messages and react to any message of a room they can see; a member with
the admin role deletes anyone's. Guests send and reply only: their name is theirs for a
visit, not an identity a later visit could prove, so nothing of theirs can be changed
afterwards, by them or anyone posing as them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import orjson
from aiohttp import web

from .formatting import render
from .hub import Client
from .keys import HUB, STORE, WRITER
from .models import utc_now_iso
from .protocol import MAX_REACTIONS, ChangeIn, DeleteIn, EditIn, ProtocolError
from .storage import StorageError
from .writer import WriterClosed

log = logging.getLogger(__name__)


def toggle(stored: str | None, emoji: str, user: str) -> str | None:
    """Reactions with ``user``'s ``emoji`` added, or taken away if it was there (JSON, or
    None when nothing is left). Emoji keep the order they were first given in."""
    reactions: dict[str, list[str]] = orjson.loads(stored) if stored else {}
    users = reactions.get(emoji, [])
    if user in users:
        users.remove(user)
        if not users:
            del reactions[emoji]
    else:
        if emoji not in reactions and len(reactions) >= MAX_REACTIONS:
            raise ProtocolError("too_many_reactions")
        reactions[emoji] = [*users, user]
    return orjson.dumps(reactions).decode() if reactions else None


async def apply(app: web.Application, client: Client, change: ChangeIn, epoch: int) -> None:
    """Make ``change`` for ``client``, or raise ProtocolError saying why not."""
    member_id = client.member_id
    if member_id is None:
        raise ProtocolError("members_only")
    writer, storage, hub = app[WRITER], app[STORE], app[HUB]
    room = client.room
    html = render(change.message) if isinstance(change, EditIn) else ""  # in the sender's task

    async def operation() -> None:
        refusal = writer.rooms.refusal(room, epoch)
        # A locked room's messages cannot change, but their own authors may still take
        # them down; a deleted room has nothing left to change.
        if refusal is not None and not (isinstance(change, DeleteIn) and refusal == "room_locked"):
            raise ProtocolError(refusal)
        message = await storage.message(room, change.id)
        if message is None:
            raise ProtocolError("message_not_found")
        ts = utc_now_iso()
        if isinstance(change, EditIn):
            if message.member_id != member_id:
                raise ProtocolError("forbidden")
            if message.body == change.message:
                return
            event = await storage.edit_message(room, change.id, change.message, ts, html)
        elif isinstance(change, DeleteIn):
            if message.member_id != member_id and not await _is_admin(app, member_id):
                raise ProtocolError("forbidden")
            event = await storage.delete_message(room, change.id, ts)
        else:
            reactions = toggle(message.reactions, change.emoji, client.user)
            event = await storage.set_reactions(room, change.id, reactions, ts)
        if event is not None:
            hub.publish_event(event)

    await writer.run(operation)


async def _is_admin(app: web.Application, member_id: int) -> bool:
    member = await app[STORE].member(member_id)
    return member is not None and member.role == "admin" and member.status == "active"


def submit(app: web.Application, client: Client, change: ChangeIn, epoch: int,
           refuse: Callable[[str], None]) -> None:
    """Start ``change`` without holding up the socket's reading; ``refuse`` is called with
    an error code if it cannot be made (the change is then not made at all)."""
    if client.member_id is None:  # said at once, without a task; apply() checks it too
        refuse("members_only")
        return
    task = asyncio.ensure_future(apply(app, client, change, epoch))

    def done(task: asyncio.Future[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if isinstance(exc, ProtocolError):
            refuse(exc.code)
        elif isinstance(exc, WriterClosed):
            refuse("shutting_down")
        else:
            if not isinstance(exc, StorageError):
                log.error("%r: a change failed", client, exc_info=exc)
            refuse("not_stored")

    task.add_done_callback(done)

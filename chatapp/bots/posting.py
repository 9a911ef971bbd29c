"""Posting as a bot: every check a message from a bot goes through, for the HTTP API and for
a webhook's reply alike, and the one call to the batch writer.

The checks are the socket's (:mod:`chatapp.ws`), in its order, with a bot's own rate limit
in place of a connection's and an address's: the room must be one the bot may use (else
``room_not_found``, the same answer whether the room is private, a DM or not the bot's),
the text a valid message, the room open, the bot within its rate. A message that would
create a room is counted against the bot's own room allowance (``CHATAPP_ROOM_RATE``).
A bot's message is stored under its name, with ``bot_id`` set and no member, so its frame
says ``"bot": true``.
"""

from __future__ import annotations

import math

from aiohttp import web

from .. import protocol
from ..keys import SETTINGS, WRITER
from ..ratelimit import TokenBucket
from ..storage.records import Bot
from ..writer import NotStored, Stored, WriterClosed
from .directory import may_use, visibility

# Each refusal's HTTP status. The codes are the socket's (docs/protocol.md), plus the bot
# API's own four (BOT_ERRORS).
STATUS: dict[str, int] = {
    "invalid_json": 400, "invalid_frame": 400, "invalid_message": 400, "empty_message": 400,
    "invalid_characters": 400, "invalid_client_id": 400,
    "message_too_long": 413,
    "reply_not_found": 422,
    "room_locked": 423, "room_deleted": 423,
    "rate_limited": 429, "room_limit": 429,
    "storage_full": 507, "not_stored": 503, "shutting_down": 503,
    "invalid_token": 401, "token_revoked": 401,
    "room_not_found": 404,
    "client_id_taken": 409,
}

BOT_ERRORS: dict[str, str] = {
    "invalid_token": ("Send the bot's token as “Authorization: Bearer <token>”; this one is not valid "
                      "(it may have been rotated)."),
    "token_revoked": "This bot's token was revoked by an admin; ask for a new one.",
    "room_not_found": "There is no room of that name here that this bot may post in.",
    "client_id_taken": ("That client_id was used in this room by another sender; nothing was posted. "
                        "Send it again with a client_id of its own."),
}


class Refused(Exception):
    """The message was not posted; ``code`` says why (an error code of the socket's or the
    bot API's), ``status`` is its HTTP status."""

    def __init__(self, code: str, detail: str | None = None, client_id: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.status = STATUS.get(code, 400)
        self.detail = detail or BOT_ERRORS.get(code) or protocol.ERRORS.get(code, code)
        self.client_id = client_id
        self.retry_after = retry_after

    def frame(self) -> dict[str, object]:
        frame: dict[str, object] = {"type": "error", "error": self.code, "detail": self.detail}
        if self.client_id is not None:
            frame["client_id"] = self.client_id
        return frame


class BotLimits:
    """One token bucket per bot (``CHATAPP_BOT_RATE`` and ``CHATAPP_BOT_BURST``); there are
    only as many as an admin made bots, so nothing to bound."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[int, TokenBucket] = {}

    def wait(self, bot_id: int) -> float:
        """0 when the bot may post now (and it is counted); else seconds until it may."""
        if self.rate <= 0:
            return 0.0
        bucket = self._buckets.get(bot_id)
        if bucket is None:
            bucket = self._buckets[bot_id] = TokenBucket(self.rate, self.burst)
        if bucket.allow():
            return 0.0
        return max(0.0, (1.0 - bucket.tokens) / self.rate)


BOT_LIMITS = web.AppKey("bot_limits", BotLimits)


def setup_limits(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[BOT_LIMITS] = BotLimits(settings.bot_rate, settings.bot_burst)


async def post_as(app: web.Application, bot: Bot, room: str, text: object, client_id: str | None = None,
                  reply_to: int | None = None) -> Stored:
    """Store ``text`` in ``room`` as ``bot``; the stored message (the original, for a retry of
    a ``client_id``), or :class:`Refused`."""
    if not may_use(bot, room, await visibility(app, room)):
        raise Refused("room_not_found", client_id=client_id)
    try:
        message = protocol.clean_message(text)
    except protocol.ProtocolError as exc:
        raise Refused(exc.code, exc.detail, client_id) from None
    writer = app[WRITER]
    refusal = writer.rooms.refusal(room)
    if refusal is not None:  # said at once; the writer checks again when it commits
        raise Refused(refusal, client_id=client_id)
    wait = app[BOT_LIMITS].wait(bot.id)
    if wait:
        raise Refused("rate_limited", f"This bot is posting too fast; try again in {math.ceil(wait)} s.",
                      client_id, retry_after=wait)
    try:
        future = writer.submit(room, bot.name, message, client_id, creator=f"bot:{bot.id}",
                               reply_to=reply_to, bot_id=bot.id)
    except WriterClosed:
        raise Refused("shutting_down", client_id=client_id) from None
    try:
        stored = await future
    except NotStored as exc:
        raise Refused(exc.code, client_id=client_id) from None
    if stored.duplicate and stored.message.bot_id != bot.id:
        raise Refused("client_id_taken", client_id=client_id)
    return stored

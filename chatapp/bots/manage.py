"""Making and changing bots: the rules both ``/admin/bots`` and ``chatapp bots`` follow.

A bot's name is what it posts under and what people type to mention it (``@deploy``), so it
is a plain word: letters, digits, ``-`` and ``_``. It is folded like a member's name and
must be free among members and bots alike. Room lists are room names separated by commas
or spaces (none: every public room); a DM can never be on one. A webhook URL is checked
as :mod:`chatapp.bots.guard` says; setting one makes a new signing secret.
"""

from __future__ import annotations

import re
import secrets
from typing import NamedTuple

from .. import protocol
from ..accounts.names import fold
from ..models import utc_now_iso
from ..privacy import is_dm_name
from ..storage import Storage
from ..storage.records import Bot
from . import tokens
from .guard import resolve_problem

MAX_NAME = 32
MAX_ROOMS = 100
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class BotError(Exception):
    """The change cannot be made; the message says why, in one sentence."""


class Made(NamedTuple):
    bot: Bot
    token: str
    webhook_secret: str | None


def clean_name(raw: str) -> str:
    name = raw.strip()
    if not NAME_RE.match(name) or not any(c.isalnum() for c in name):
        raise BotError(f"A bot's name is 1 to {MAX_NAME} letters, digits, “-” or “_” (people mention it as @name).")
    if fold(name) == fold(protocol.DEFAULT_USER):
        raise BotError(f"“{name}” is what unnamed guests are called; choose another name.")
    return name


def parse_rooms(text: str) -> tuple[str, ...] | None:
    """The rooms of a list typed by an operator (None: empty, every public room)."""
    rooms: list[str] = []
    for raw in re.split(r"[\s,]+", text.strip()):
        if not raw:
            continue
        room = protocol.normalise_room(raw.lstrip("#"))
        if room is None:
            raise BotError(f"“{raw[:70]}” is not a room name (1 to 64 letters, digits, “-” or “_”).")
        if is_dm_name(room):
            raise BotError("A direct message is its two members' alone; it cannot be given to a bot.")
        if room not in rooms:
            rooms.append(room)
    if len(rooms) > MAX_ROOMS:
        raise BotError(f"A bot can be limited to at most {MAX_ROOMS} rooms.")
    return tuple(rooms) or None


async def checked_webhook(url: str, allow_private: bool) -> str | None:
    """The URL to store (None: no webhook), or BotError."""
    url = url.strip()
    if not url:
        return None
    problem = await resolve_problem(url, allow_private)
    if problem is not None:
        raise BotError(problem)
    return url


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


async def create(store: Storage, raw_name: str, rooms_text: str = "", webhook: str = "",
                 allow_private: bool = False) -> Made:
    name = clean_name(raw_name)
    rooms = parse_rooms(rooms_text)
    url = await checked_webhook(webhook, allow_private)
    hook_secret = new_webhook_secret() if url else None
    secret = tokens.new_secret()
    bot = await store.create_bot(name, fold(name), tokens.secret_hash(secret), utc_now_iso(), rooms, url,
                                 hook_secret)
    if bot is None:
        raise BotError(f"The name “{name}” is taken by a member or a bot (or looks too much like theirs).")
    return Made(bot, tokens.token_for(bot.id, secret), hook_secret)


async def find(store: Storage, raw_name: str) -> Bot:
    bot = await store.bot_by_key(fold(raw_name.strip()))
    if bot is None:
        raise BotError(f"There is no bot named “{raw_name.strip()[:MAX_NAME]}”.")
    return bot


async def rotate(store: Storage, bot: Bot) -> str:
    """A new token for ``bot`` (the old one stops working; a revoked bot works again)."""
    secret = tokens.new_secret()
    if not await store.set_bot_token(bot.id, tokens.secret_hash(secret), utc_now_iso()):
        raise BotError("That bot is gone.")
    return tokens.token_for(bot.id, secret)


async def revoke(store: Storage, bot: Bot) -> bool:
    return await store.revoke_bot(bot.id, utc_now_iso())


async def set_rooms(store: Storage, bot: Bot, rooms_text: str) -> tuple[str, ...] | None:
    rooms = parse_rooms(rooms_text)
    await store.set_bot_rooms(bot.id, rooms)
    return rooms


async def set_webhook(store: Storage, bot: Bot, url_text: str, allow_private: bool) -> str | None:
    """Set (or, for an empty URL, remove) the webhook; the signing secret if a new one was
    made. Moving a webhook keeps its secret; removing it drops the secret, so the next
    webhook set gets a new one (the way to replace a lost secret)."""
    url = await checked_webhook(url_text, allow_private)
    kept = bot.webhook_secret if url else None
    hook_secret = kept or (new_webhook_secret() if url else None)
    await store.set_bot_webhook(bot.id, url, hook_secret)
    return None if kept else hook_secret


def rooms_text(bot: Bot) -> str:
    """The bot's rooms as an operator reads them."""
    if not bot.limited:
        return "every public room"
    return ", ".join(f"#{r}" for r in bot.rooms) if bot.rooms else "no rooms"

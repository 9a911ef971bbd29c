"""Deleting many rooms at once: ``/admin/bulk-delete``, for cleaning up after a flood.

The operator picks rooms by what a flood leaves behind: at most N messages, last active
within the last H hours. The GET shows how many match (and the first few names) before
anything is deleted; the POST picks the matching rooms afresh and deletes up to
:data:`BULK_LIMIT` of them, each through :func:`chatapp.moderation.delete_room` (so in
order with the chat, its sockets closed with 4000) and each recorded in the audit log.
A click's work is bounded: more rooms than that take another click.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from .. import moderation, protocol
from ..keys import STORE
from ..models import iso_utc
from .pages import admin_url, chat_app, flash, page, record, see_other

BULK_LIMIT = 1000  # rooms one click deletes
MAX_MESSAGES = 1000
MAX_HOURS = 24 * 30
SHOWN = 20  # names listed on the confirmation page


@dataclass(frozen=True)
class Criteria:
    max_messages: int
    hours: int

    def since(self) -> str:
        return iso_utc(dt.datetime.now(dt.UTC) - dt.timedelta(hours=self.hours))

    def __str__(self) -> str:
        return (f"at most {self.max_messages} message{'' if self.max_messages == 1 else 's'}, "
                f"last active in the last {self.hours} hour{'' if self.hours == 1 else 's'}")

    def query(self) -> dict[str, str]:
        return {"max_messages": str(self.max_messages), "hours": str(self.hours)}


def bulk_defaults() -> Criteria:
    return Criteria(1, 1)


def _criteria(values: Mapping[str, Any]) -> Criteria:
    most = protocol.as_id(str(values.get("max_messages", "")).strip())
    hours = protocol.as_id(str(values.get("hours", "")).strip())
    if most is None or not 1 <= most <= MAX_MESSAGES or hours is None or not 1 <= hours <= MAX_HOURS:
        raise web.HTTPBadRequest(
            text=f"Choose rooms with at most 1 to {MAX_MESSAGES} messages, active in the last 1 to {MAX_HOURS} hours.")
    return Criteria(most, hours)


@aiohttp_jinja2.template("admin/bulk.html")
async def preview(request: web.Request) -> dict[str, Any]:
    """``GET``: how many rooms match, and a form to delete them."""
    criteria = _criteria(request.query)
    names = await request.config_dict[STORE].quiet_rooms(criteria.since(), criteria.max_messages, BULK_LIMIT + 1)
    return await page(request, criteria=criteria, shown=names[:SHOWN], matching=min(len(names), BULK_LIMIT),
                      more=len(names) > BULK_LIMIT, limit=BULK_LIMIT)


async def delete(request: web.Request) -> web.StreamResponse:
    """``POST``: delete up to :data:`BULK_LIMIT` matching rooms, one by one, each audited."""
    criteria = _criteria(await request.post())
    names = await request.config_dict[STORE].quiet_rooms(criteria.since(), criteria.max_messages, BULK_LIMIT)
    app = chat_app(request)
    messages = 0
    for name in names:
        deleted = await moderation.delete_room(app, name)
        messages += deleted
        await record(request, "delete_room", room=name, detail=f"{deleted} messages; bulk: {criteria}")
    said = f"Deleted {len(names)} room{'' if len(names) == 1 else 's'} ({messages} messages) with {criteria}."
    if len(names) == BULK_LIMIT:
        said += " That is the limit for one click: more may match, so check again."
    await flash(request, said)
    return see_other(admin_url(request, "admin"))

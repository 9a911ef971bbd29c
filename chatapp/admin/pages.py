"""What every admin page and action shares: the page context, the one-time notice, the
303 back to a page, admin URLs, and recording an action in the audit log."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from aiohttp import web

from .. import csrf, sessions
from ..keys import SETTINGS, STORE
from ..netutil import client_addr
from .gate import ACTOR, ADMIN_APP

log = logging.getLogger(__name__)


def chat_app(request: web.Request) -> web.Application:
    """The main application (the hub, the writer): the admin is mounted inside it."""
    return request.match_info.apps[0]


def admin_url(request: web.Request, name: str, **parts: str) -> str:
    return str(request.config_dict[ADMIN_APP].router[name].url_for(**parts))


def see_other(location: str) -> web.Response:
    # Returned rather than raised, so the session middleware can put its cookie on it.
    return web.Response(status=303, headers={"Location": location})


async def flash(request: web.Request, text: str) -> None:
    """A notice for the next page this browser shows, once."""
    (await sessions.cookie(request))["flash"] = text


async def page(request: web.Request, **context: Any) -> dict[str, Any]:
    """What every admin template needs: the CSRF token and a one-time notice."""
    notice = (await sessions.cookie(request)).pop("flash", None)
    return {"csrf_token": await csrf.token(request), "flash": notice, **context}


async def record(request: web.Request, action: str, **fields: Any) -> None:
    """Write an admin action to the audit log (and the server log), saying who acted."""
    addr = client_addr(request, request.config_dict[SETTINGS])
    actor = request.get(ACTOR)
    await request.config_dict[STORE].record_audit(action, addr, actor=actor, **fields)
    where = " ".join(f"{k}={v}" for k, v in fields.items())
    log.info("admin %s %s by %s from %s", action, where, "the operator" if actor is None else actor, addr)


def since_24h() -> str:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=24)
    return since.strftime("%Y-%m-%dT%H:%M:%S.000Z")

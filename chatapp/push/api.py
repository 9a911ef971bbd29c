"""The HTTP side of notifications: the push API a member's page calls, and the service worker.

- ``GET /api/push/key``: the server's VAPID public key, the ``applicationServerKey`` to
  subscribe with (url-safe base64 of the uncompressed P-256 point);
- ``POST /api/push/subscriptions``: store the browser's ``PushSubscription.toJSON()``,
  tied to this login (:mod:`chatapp.storage`'s push section says why);
- ``POST /api/push/subscriptions/delete``: ``{"endpoint": ...}``, one of the member's own;
- ``GET /sw.js``: static/sw.js at the root, so its scope is the whole site.

Members only (guests get 403): a push needs someone to address. The POSTs are checked for
origin and for the CSRF token in the ``X-CSRF-Token`` header (:mod:`chatapp.csrf`), which
the room page carries (``data-push-token``). Answers are JSON; errors are the API's usual
``{"error", "detail"}``.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web
from yarl import URL

from .. import csrf, sessions
from ..accounts import current_member
from ..keys import SETTINGS, STORE
from ..models import dumps, utc_now_iso
from ..resources import resource_dir
from ..storage import Member, RowRejected
from . import subscriptions
from .vapid import VAPID_KEYS

log = logging.getLogger(__name__)

KEEP_PER_MEMBER = 10  # browsers one member may have subscribed at once; the newest are kept
WORKER_CSP = "default-src 'none'; img-src 'self'"


async def _member(request: web.Request) -> Member:
    member = await current_member(request)
    if member is None:
        raise web.HTTPForbidden(text="Notifications are for members: log in to turn them on.")
    return member


async def _json(request: web.Request) -> Any:
    try:
        return await request.json(loads=orjson.loads)
    except ValueError:
        raise web.HTTPBadRequest(text="Send a JSON body.") from None


async def page_context(request: web.Request) -> dict[str, str]:
    """What the room page needs for its notifications control: the CSRF token its calls
    send, for members ("" for a guest: no control is shown)."""
    if await current_member(request) is None:
        return {"push_token": ""}
    return {"push_token": await csrf.token(request)}


async def vapid_key(request: web.Request) -> web.Response:
    csrf.check_origin(request)
    await _member(request)
    keys = await request.config_dict[VAPID_KEYS].get()  # made now, the first time a member asks
    return web.json_response({"key": keys.public_key}, dumps=dumps,
                             headers={"Cache-Control": "no-store"})


async def subscribe(request: web.Request) -> web.Response:
    member = await _member(request)
    await csrf.check(request)
    try:
        sub = subscriptions.parse(await _json(request), request.config_dict[SETTINGS].push_allow_private)
    except subscriptions.BadSubscription as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    sid = (await sessions.cookie(request)).get("sid")
    if not isinstance(sid, str) or not sid:
        raise web.HTTPForbidden(text="Log in again to turn notifications on.")
    try:
        await request.config_dict[STORE].save_push_subscription(
            member.id, sessions.id_hash(sid), sub.endpoint, sub.p256dh, sub.auth, utc_now_iso(), KEEP_PER_MEMBER)
    except RowRejected:  # the session ended between the check and the write
        raise web.HTTPForbidden(text="Log in again to turn notifications on.") from None
    # The host only: the endpoint's path is what lets anyone push to that browser.
    log.debug("member #%d: Web Push subscription through %s saved", member.id, URL(sub.endpoint).host)
    return web.json_response({"subscribed": True}, status=201, dumps=dumps)


async def unsubscribe(request: web.Request) -> web.Response:
    member = await _member(request)
    await csrf.check(request)
    data = await _json(request)
    endpoint = data.get("endpoint") if isinstance(data, dict) else None
    if not isinstance(endpoint, str) or not endpoint:
        raise web.HTTPBadRequest(text="Say which subscription: {\"endpoint\": ...}.")
    deleted = await request.config_dict[STORE].delete_push_subscription(member.id, endpoint)
    if deleted:
        log.info("member #%d turned Web Push off in a browser", member.id)
    return web.json_response({"deleted": deleted}, dumps=dumps)


async def service_worker(request: web.Request) -> web.FileResponse:
    # At the root so that its scope is every page; revalidated on each check (the browser
    # looks for a new one at least daily), so an upgrade reaches it at once.
    return web.FileResponse(resource_dir("static") / "sw.js", headers={
        "Content-Type": "text/javascript; charset=utf-8",
        "Cache-Control": "no-cache",
        "Content-Security-Policy": WORKER_CSP,
    })


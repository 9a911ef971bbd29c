"""``CHATAPP_ACCESS=members``: nothing but the account pages answers without a member session.

One middleware, so no route can forget it. Without a member session, in ``members`` mode:
pages (GET/HEAD) redirect to ``/login?next=<the page>``, everything under ``/api/`` and the
WebSocket handshake answer 401, and any other request 403. Open to all: the login, signup,
join and password-reset pages, ``/logout``, ``/healthz``, static files, and ``/admin``
(whose own gate lets only the operator and admin members in). In ``open`` mode (the default) the middleware passes
every request straight through.
"""

from __future__ import annotations

from collections.abc import Awaitable

from aiohttp import web
from aiohttp.typedefs import Handler

from ..keys import SETTINGS
from ..models import dumps
from .members import current_member

# "bot_post" needs no member: a bot authenticates with its own token there (chatapp.bots.api).
# "service_worker" is a static file served at the root (chatapp.push.api).
OPEN_ROUTES = frozenset({"login", "signup", "join", "reset", "logout", "healthz", "static", "bot_post",
                         "service_worker"})
OPEN_PREFIXES = ("/static/", "/admin/")


def _is_open(request: web.Request) -> bool:
    route = request.match_info.route
    name = route.name if route.resource is not None else None
    return (name in OPEN_ROUTES or request.path == "/admin" or request.path.startswith(OPEN_PREFIXES)
            or request.match_info.http_exception is not None)  # a 404 or 405 says nothing


@web.middleware
def members_only(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    # In open mode the handler's own coroutine is handed back: no middleware frame is held
    # for the life of every request (a WebSocket's is the connection's).
    if request.app[SETTINGS].access != "members" or _is_open(request):
        return handler(request)
    return _members_only(request, handler)


async def _members_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    if await current_member(request) is not None:
        return await handler(request)
    if request.path.startswith("/api/") or request.path.startswith("/ws/"):
        raise web.HTTPUnauthorized(text=dumps({"error": "login_required",
                                               "detail": "Log in as a member first."}),
                                   content_type="application/json")
    if request.method not in ("GET", "HEAD"):
        raise web.HTTPForbidden(text="Log in as a member first.")
    login = request.app.router["login"].url_for().with_query(next=request.path_qs)
    raise web.HTTPFound(login)

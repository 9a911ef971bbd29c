"""The one way into the admin: a middleware that checks login, origin and CSRF token, and
marks every answer ``Cache-Control: no-store``, so that no handler can forget any of them.

- The login page (``admin_login``) is open to everyone.
- The operator (logged in with ``CHATAPP_ADMIN_PASSWORD``) and members with the admin role
  (logged in at ``/login``, account active) pass alike; :data:`ACTOR` says which.
- Any other page without such a session: a GET or HEAD is sent to the login page
  with ``next=`` the page asked for (a script under ``/admin/api/`` gets ``401`` JSON
  instead), and every other method is refused with ``403``.
- Every state-changing request, the login form's included, must come from our own
  origin and carry the session's CSRF token (:mod:`chatapp.csrf`), or it is refused (403).

The operator's session is a server-side record (:mod:`chatapp.sessions`), checked on every
request, so logging out ends it wherever the cookie was copied. Pages outside ``/admin``
that are the operator's alone (the NDJSON export) call :func:`require_operator`.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler
from yarl import URL

from .. import csrf, sessions
from ..accounts.members import current_member
from ..middlewares import errors
from ..models import dumps
from ..storage import Member

OPERATOR = sessions.Principal("operator", "")  # the one operator, known by its password

ADMIN_APP = web.AppKey("admin_app", web.Application)  # on the main app: the admin sub-app

OPEN_ROUTES = frozenset({"admin_login"})
API_PREFIX = "/admin/api/"


# Who passed the gate: None for the operator, else the admin member's name (the audit
# log's "actor"). Set by the gate for every page but the login form.
ACTOR: web.RequestKey[str | None] = web.RequestKey("admin_actor")


async def is_operator(request: web.Request) -> bool:
    record = await sessions.current(request)
    return record is not None and record.kind == OPERATOR.kind


async def admin_member(request: web.Request) -> Member | None:
    """The member this request's session belongs to if they are an active admin, else None."""
    member = await current_member(request)
    return member if member is not None and member.role == "admin" else None


async def is_admin(request: web.Request) -> bool:
    """The operator, or a member with the admin role: either may use ``/admin``."""
    if await is_operator(request):
        request[ACTOR] = None
        return True
    member = await admin_member(request)
    if member is None:
        return False
    request[ACTOR] = member.name
    return True


def login_url(request: web.Request, next_path: str | None = None) -> URL:
    url = request.config_dict[ADMIN_APP].router["admin_login"].url_for()
    return url.with_query(next=next_path) if next_path else url


async def require_operator(request: web.Request) -> None:
    """For an admin-only GET outside ``/admin``: the login page unless logged in."""
    if not await is_admin(request):
        raise web.HTTPFound(login_url(request, request.path_qs))


async def _check(request: web.Request) -> None:
    safe = request.method in csrf.SAFE_METHODS
    if not safe:
        csrf.check_origin(request)
    if request.match_info.route.name not in OPEN_ROUTES and not await is_admin(request):
        if not safe:
            raise web.HTTPForbidden(text="Log in as the operator first.")
        if request.path.startswith(API_PREFIX):
            # A script polling after the session ended gets a status it can act on.
            raise web.HTTPUnauthorized(text=dumps({"error": "login_required"}),
                                       content_type="application/json")
        raise web.HTTPFound(login_url(request, request.path_qs))
    if not safe:
        await csrf.check_token(request)


@web.middleware
async def operator_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    async def checked(request: web.Request) -> web.StreamResponse:
        await _check(request)
        return await handler(request)

    # Error pages are rendered here, inside the gate, by the app's own error middleware,
    # so that they too carry no-store: rendered outside, they would be made after the
    # gate had let go. Redirects and JSON errors come back raised; they get it as well.
    try:
        response = await errors(request, checked)
    except web.HTTPException as exc:
        exc.headers["Cache-Control"] = "no-store"
        raise
    response.headers["Cache-Control"] = "no-store"
    return response

"""The operator's admin: an aiohttp sub-application mounted at ``/admin``.

Its one middleware, :func:`~chatapp.admin.gate.operator_gate`, lets only the operator and
admin members in,
checks origin and CSRF token on every POST and marks every answer ``no-store``; the
handlers do none of that themselves. The main app's middlewares (error pages, the session
cookie) and its security headers apply here as well, since aiohttp runs a parent's
middlewares and response hooks around a sub-application's.

- :mod:`.gate`: the middleware, and :func:`require_operator` for operator-only pages
  elsewhere (the NDJSON export);
- :mod:`.login`: the password, logging in, out, and out everywhere;
- :mod:`.overview`: the live room table, a page at a time; :mod:`.room`: one room and its
  moderation; :mod:`.bulk`: deleting many rooms at once;
  :mod:`.members`: members, roles, join links and reset links;
  :mod:`.audit`: the audit log; :mod:`.pages`: what they share.
- ``/admin/bots`` lives with the bots, in :mod:`chatapp.bots.admin`.
"""

from __future__ import annotations

from aiohttp import web

from ..bots import admin as bots_admin
from ..keys import SETTINGS
from . import audit, bulk, login, members, overview, room
from .gate import ADMIN_APP, OPERATOR, is_operator, operator_gate, require_operator
from .login import OPERATOR_PASSWORD, OperatorPassword

PREFIX = "/admin"


def _routes(admin: web.Application) -> None:
    """The admin's URL table, relative to :data:`PREFIX`; the names are the templates'."""
    r = admin.router
    r.add_get("", overview.home, name="admin")
    r.add_get("/", overview.slash, name="admin_slash")
    r.add_get("/api/rooms", overview.api_rooms, name="admin_api_rooms")
    login_page = r.add_resource("/login", name="admin_login")  # one name for GET and POST: the gate's
    for method in ("GET", "HEAD", "POST"):
        login_page.add_route(method, login.login)
    r.add_post("/logout", login.logout, name="admin_logout")
    r.add_post("/logout/everywhere", login.logout_everywhere, name="admin_logout_everywhere")
    r.add_get("/audit", audit.audit_page, name="admin_audit")
    r.add_get("/bulk-delete", bulk.preview, name="admin_bulk")
    r.add_post("/bulk-delete", bulk.delete, name="admin_bulk_delete")
    r.add_get("/rooms/{room}", room.room_page, name="admin_room")
    r.add_post(r"/rooms/{room}/messages/{id:[0-9]{1,18}}/delete", room.delete_message,
               name="admin_delete_message")
    r.add_post("/rooms/{room}/lock", room.lock, name="admin_lock")
    r.add_post("/rooms/{room}/unlock", room.unlock, name="admin_unlock")
    r.add_post("/rooms/{room}/clear", room.clear, name="admin_clear")
    r.add_post("/rooms/{room}/delete", room.delete_room, name="admin_delete_room")
    r.add_post("/rooms/{room}/retention", room.retention, name="admin_retention")
    members.add_routes(admin)
    bots_admin.add_routes(admin)  # /admin/bots: chatapp.bots.admin


def setup_admin(app: web.Application) -> web.Application:
    """Build the admin sub-application and mount it on ``app``; returns it.

    ``app`` must already have the session middleware (:func:`chatapp.sessions.setup_sessions`)
    and a login throttle (:data:`chatapp.throttle.LOGIN_THROTTLE`).
    """
    admin = web.Application(middlewares=[operator_gate])
    admin[OPERATOR_PASSWORD] = OperatorPassword(app[SETTINGS].admin_password)
    admin.on_startup.append(login.make_password)
    _routes(admin)
    app.add_subapp(PREFIX, admin)
    app[ADMIN_APP] = admin
    return admin


__all__ = ["ADMIN_APP", "OPERATOR", "OPERATOR_PASSWORD", "is_operator", "require_operator", "setup_admin"]

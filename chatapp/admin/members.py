"""Members at ``/admin/members``: who has an account, their role and status, and what an
admin can do about them: deactivate and reactivate, make or remove admin, a one-time
password-reset link; and join links, made (the token shown once) and revoked.

Every action is a POST (the gate has checked the session, origin and CSRF token), is
recorded in the audit log with who did it, and answers 303 back to the page with a
one-time notice; a new link is shown on a page of its own, once, and never again.
Deactivating an account ends every session of it at once and closes its open sockets
with :data:`ACCOUNT_DEACTIVATED`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from .. import protocol
from ..accounts.joinlinks import make_join_link
from ..accounts.names import fold
from ..accounts.resets import RESET_VALID_FOR, make_reset_link
from ..cluster.node import MEMBER_DEACTIVATED, announce
from ..keys import HUB, SETTINGS, STORE
from ..models import iso_utc
from ..params import int_param
from ..storage import Member
from .gate import admin_member
from .pages import admin_url, flash, page, record, see_other

PAGE_SIZE = 50
JOIN_LINKS_SHOWN = 20
MAX_LINK_DAYS = 365
MAX_LINK_USES = 1000
# The close code of a deactivated member's sockets (docs/protocol.md): the page says the
# account was closed, and does not reconnect.
ACCOUNT_DEACTIVATED = 4002


def origin(request: web.Request) -> str:
    """Where links point: CHATAPP_PUBLIC_ORIGIN, else the origin this page was asked at."""
    return request.config_dict[SETTINGS].public_origin.rstrip("/") or str(request.url.origin())


@aiohttp_jinja2.template("admin/members.html")
async def members_page(request: web.Request) -> dict[str, Any]:
    q = request.query.get("q", "").strip()[:protocol.MAX_USER]
    before = int_param(request, "before")
    store = request.config_dict[STORE]
    members, older = await store.members_page(fold(q) if q else "", before, PAGE_SIZE)
    me = await admin_member(request)
    return await page(request, members=members, q=q, older=older, paged=before is not None,
                      me=me.id if me else None, join_links=await store.join_links(JOIN_LINKS_SHOWN),
                      now=iso_utc(dt.datetime.now(dt.UTC)), max_days=MAX_LINK_DAYS, max_uses=MAX_LINK_USES)


async def _member(request: web.Request) -> Member:
    member = await request.config_dict[STORE].member(int(request.match_info["id"]))
    if member is None:
        raise web.HTTPNotFound(text="There is no such member.")
    return member


async def _not_yourself(request: web.Request, member: Member, what: str) -> web.Response | None:
    me = await admin_member(request)
    if me is not None and me.id == member.id:
        await flash(request, f"You cannot {what} yourself: ask another admin, or use the operator password.")
        return _back(request)
    return None


def _back(request: web.Request) -> web.Response:
    return see_other(admin_url(request, "admin_members"))


async def deactivate(request: web.Request) -> web.StreamResponse:
    member = await _member(request)
    if refused := await _not_yourself(request, member, "deactivate"):
        return refused
    store = request.config_dict[STORE]
    await store.set_member_status(member.id, "deactivated")
    await store.bump_session_version(member.id)  # every session record goes with it
    closed = request.config_dict[HUB].close_member(member.id, ACCOUNT_DEACTIVATED, b"account deactivated")
    await announce(request.config_dict, "", MEMBER_DEACTIVATED, member.id)  # their sockets on other nodes
    await record(request, "deactivate", detail=f"member {member.name}; {closed} sockets closed")
    await flash(request, f"{member.name} is deactivated: logged out everywhere, and cannot log in.")
    return _back(request)


async def reactivate(request: web.Request) -> web.StreamResponse:
    member = await _member(request)
    await request.config_dict[STORE].set_member_status(member.id, "active")
    await record(request, "reactivate", detail=f"member {member.name}")
    await flash(request, f"{member.name} can log in again.")
    return _back(request)


async def _set_role(request: web.Request, role: str) -> web.StreamResponse:
    member = await _member(request)
    if role == "member" and (refused := await _not_yourself(request, member, "remove admin from")):
        return refused
    await request.config_dict[STORE].set_member_role(member.id, role)
    await record(request, "make_admin" if role == "admin" else "remove_admin", detail=f"member {member.name}")
    await flash(request, f"{member.name} is {'an admin' if role == 'admin' else 'no longer an admin'}.")
    return _back(request)


async def make_admin(request: web.Request) -> web.StreamResponse:
    return await _set_role(request, "admin")


async def remove_admin(request: web.Request) -> web.StreamResponse:
    return await _set_role(request, "member")


def _link_page(request: web.Request, context: dict[str, Any]) -> web.Response:
    return aiohttp_jinja2.render_template("admin/link.html", request, context)


async def reset_link(request: web.Request) -> web.StreamResponse:
    member = await _member(request)
    if member.status != "active":
        await flash(request, f"{member.name} is deactivated: reactivate the account first.")
        return _back(request)
    token = await make_reset_link(request.config_dict[STORE], member.id)
    await record(request, "reset_link", detail=f"member {member.name}")
    hours = int(RESET_VALID_FOR.total_seconds() // 3600)
    return _link_page(request, await page(
        request, title=f"Password reset for {member.name}", link=f"{origin(request)}/reset/{token}",
        about=f"Give this link to {member.name} only. It works once, for {hours} hours; "
              "setting a new password through it logs the account out everywhere."))


def _bounded(form: Any, field: str, top: int) -> int:
    value = protocol.as_id(str(form.get(field, "")).strip())
    if value is None or not 1 <= value <= top:
        raise web.HTTPBadRequest(text=f"{field.replace('_', ' ').capitalize()} must be 1 to {top}.")
    return value


async def make_link(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    days, uses = _bounded(form, "days", MAX_LINK_DAYS), _bounded(form, "max_uses", MAX_LINK_USES)
    me = await admin_member(request)
    token = await make_join_link(request.config_dict[STORE], valid_for=dt.timedelta(days=days), max_uses=uses,
                                 created_by=me.id if me else None)
    said = f"{uses} use{'' if uses == 1 else 's'}, {days} day{'' if days == 1 else 's'}"
    await record(request, "make_join_link", detail=said)
    return _link_page(request, await page(
        request, title="New join link", link=f"{origin(request)}/join/{token}",
        about=f"Anyone with this link can make an account ({said}). It is shown only now: copy it."))


async def revoke_link(request: web.Request) -> web.StreamResponse:
    token_hash = request.match_info["hash"]
    revoked = await request.config_dict[STORE].revoke_join_link(token_hash, iso_utc(dt.datetime.now(dt.UTC)))
    if revoked:
        await record(request, "revoke_join_link", detail=f"link {token_hash[:8]}")
    await flash(request, "Join link revoked." if revoked else "That join link was already revoked.")
    return _back(request)


def add_routes(admin: web.Application) -> None:
    r = admin.router
    r.add_get("/members", members_page, name="admin_members")
    member = r"/members/{id:[0-9]{1,18}}"
    r.add_post(member + "/deactivate", deactivate, name="admin_member_deactivate")
    r.add_post(member + "/reactivate", reactivate, name="admin_member_reactivate")
    r.add_post(member + "/make-admin", make_admin, name="admin_member_make_admin")
    r.add_post(member + "/remove-admin", remove_admin, name="admin_member_remove_admin")
    r.add_post(member + "/reset-link", reset_link, name="admin_member_reset")
    r.add_post("/join-links", make_link, name="admin_join_link_make")
    r.add_post(r"/join-links/{hash:[0-9a-f]{64}}/revoke", revoke_link, name="admin_join_link_revoke")

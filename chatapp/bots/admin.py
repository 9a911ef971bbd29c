"""Bots at ``/admin/bots``: every bot with its rooms and its webhook's health (failures, the
last error, the last delivery), and what an admin can do: make a bot (its token shown once,
on a page of its own), give it a new token, revoke it, limit it to rooms, set or remove its
webhook (a new signing secret is shown once).

The admin's gate has checked the session, origin and CSRF token of every POST here. Every
action is recorded in the audit log with who did it, and the server's bot directory is
reloaded at once, so a change applies to mentions from the next message on.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from yarl import URL

from ..admin.members import origin
from ..admin.pages import admin_url, chat_app, flash, page, record, see_other
from ..keys import SETTINGS, STORE
from ..storage.records import Bot
from . import manage
from .directory import reload


async def _page(request: web.Request, status: int = 200, **context: Any) -> web.Response:
    bots = await request.config_dict[STORE].bots()
    defaults = {"error": None, "name": "", "rooms": "", "webhook": ""}
    return aiohttp_jinja2.render_template(
        "admin/bots.html", request,
        await page(request, bots=bots, rooms_text=manage.rooms_text, max_name=manage.MAX_NAME,
                   allow_private=request.config_dict[SETTINGS].webhook_allow_private, **{**defaults, **context}),
        status=status)


async def bots_page(request: web.Request) -> web.Response:
    return await _page(request)


def _back(request: web.Request) -> web.Response:
    return see_other(admin_url(request, "admin_bots"))


async def _bot(request: web.Request) -> Bot:
    bot = await request.config_dict[STORE].bot(int(request.match_info["id"]))
    if bot is None:
        raise web.HTTPNotFound(text="There is no such bot.")
    return bot


def _secret_page(request: web.Request, context: dict[str, Any]) -> web.Response:
    return aiohttp_jinja2.render_template("admin/bot_secret.html", request, context)


def _example(request: web.Request, bot: Bot) -> str:
    room = bot.rooms[0] if bot.rooms else "lobby"
    return (f"curl -H 'Authorization: Bearer <token>' -d 'deploy done' "
            f"{origin(request)}/api/rooms/{room}/messages")


async def create(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, rooms, webhook = (str(form.get(k, ""))[:2000] for k in ("name", "rooms", "webhook"))
    allow_private = request.config_dict[SETTINGS].webhook_allow_private
    try:
        made = await manage.create(request.config_dict[STORE], name, rooms, webhook, allow_private)
    except manage.BotError as exc:
        return await _page(request, 400, error=str(exc), name=name, rooms=rooms, webhook=webhook)
    await reload(chat_app(request))
    await record(request, "bot_create", detail=f"bot {made.bot.name}; rooms: {manage.rooms_text(made.bot)}"
                                               + ("; webhook set" if made.bot.webhook_url else ""))
    return _secret_page(request, await page(
        request, title=f"New bot {made.bot.name}", bot=made.bot, token=made.token,
        webhook_secret=made.webhook_secret, example=_example(request, made.bot)))


async def rotate(request: web.Request) -> web.StreamResponse:
    bot = await _bot(request)
    token = await manage.rotate(request.config_dict[STORE], bot)
    await reload(chat_app(request))
    await record(request, "bot_rotate", detail=f"bot {bot.name}" + ("; revoked before" if bot.revoked_at else ""))
    return _secret_page(request, await page(
        request, title=f"New token for {bot.name}", bot=bot, token=token, webhook_secret=None,
        example=_example(request, bot)))


async def revoke(request: web.Request) -> web.StreamResponse:
    bot = await _bot(request)
    revoked = await manage.revoke(request.config_dict[STORE], bot)
    await reload(chat_app(request))
    if revoked:
        await record(request, "bot_revoke", detail=f"bot {bot.name}")
    await flash(request, f"{bot.name}'s token is revoked: it can post no more, and its webhook is not called. "
                         "A new token brings it back." if revoked else f"{bot.name} was already revoked.")
    return _back(request)


async def set_rooms(request: web.Request) -> web.StreamResponse:
    bot = await _bot(request)
    form = await request.post()
    try:
        rooms = await manage.set_rooms(request.config_dict[STORE], bot, str(form.get("rooms", ""))[:8000])
    except manage.BotError as exc:
        await flash(request, f"{bot.name}: {exc}")
        return _back(request)
    await reload(chat_app(request))
    updated = bot._replace(limited=rooms is not None, rooms=rooms or ())
    await record(request, "bot_rooms", detail=f"bot {bot.name}; rooms: {manage.rooms_text(updated)}")
    await flash(request, f"{bot.name} may now use {manage.rooms_text(updated)}.")
    return _back(request)


async def set_webhook(request: web.Request) -> web.StreamResponse:
    bot = await _bot(request)
    form = await request.post()
    url = str(form.get("webhook", ""))[:2000].strip()
    allow_private = request.config_dict[SETTINGS].webhook_allow_private
    try:
        secret = await manage.set_webhook(request.config_dict[STORE], bot, url, allow_private)
    except manage.BotError as exc:
        await flash(request, f"{bot.name}'s webhook was not changed: {exc}")
        return _back(request)
    await reload(chat_app(request))
    # Only the origin: a webhook's path or user part is often a secret of its own.
    await record(request, "bot_webhook", detail=f"bot {bot.name}; "
                 + (f"webhook {URL(url).origin()}/…" if url else "webhook removed"))
    if secret is not None:
        return _secret_page(request, await page(
            request, title=f"Webhook for {bot.name}", bot=bot, token=None, webhook_secret=secret, example=None))
    await flash(request, f"{bot.name}'s webhook is now {url} (same signing secret)." if url
                else f"{bot.name} has no webhook now.")
    return _back(request)


def add_routes(admin: web.Application) -> None:
    r = admin.router
    r.add_get("/bots", bots_page, name="admin_bots")
    r.add_post("/bots", create, name="admin_bot_create")
    bot = r"/bots/{id:[0-9]{1,18}}"
    r.add_post(bot + "/rotate", rotate, name="admin_bot_rotate")
    r.add_post(bot + "/revoke", revoke, name="admin_bot_revoke")
    r.add_post(bot + "/rooms", set_rooms, name="admin_bot_rooms")
    r.add_post(bot + "/webhook", set_webhook, name="admin_bot_webhook")

"""``chatapp bots create|list|rotate|revoke`` and ``chatapp post``.

The ``bots`` commands work on the database file directly, like ``chatapp users``, beside a
running server: a new token works at once (every request checks the database), and the
server picks up a new bot's name and webhook within seconds. Each change is recorded in
the audit log as done by ``cli``. The token is printed alone on stdout, so a script can
take it (``TOKEN=$(chatapp bots create deploy)``); what it is goes to stderr.

``chatapp post ROOM MESSAGE`` posts as a bot through the running server's HTTP API (not the
database), so the message is checked like any other and reaches open pages live.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

from .. import settings as settings_mod
from ..storage import Storage, StorageError, open_storage
from . import manage

COMMANDS = frozenset({"bots", "post"})
BUSY_TIMEOUT_MS = 10_000
POST_TIMEOUT = 30.0
TOKEN_ENV = "CHATAPP_BOT_TOKEN"

T = TypeVar("T")


def add_commands(sub: Any) -> None:
    """The two subcommands, on the ``chatapp`` parser's subparsers."""
    db_help = settings_mod.describe("db").help
    bots = sub.add_parser("bots", help="bots: create, list, give a new token, revoke")
    actions = bots.add_subparsers(dest="bots_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="make a bot and print its token (shown only now)")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--rooms", default="", metavar="ROOMS",
                        help="comma-separated rooms it may use, private ones included (default: every public room)")
    create.add_argument("--webhook", default="", metavar="URL",
                        help="called when someone mentions the bot; its signing secret is printed to stderr")
    listing = actions.add_parser("list", help="every bot: state, rooms, webhook, failed deliveries")
    rotate = actions.add_parser("rotate", help="give a bot a new token and print it (the old one stops working)")
    rotate.add_argument("name", metavar="NAME")
    revoke = actions.add_parser("revoke", help="stop a bot's token working")
    revoke.add_argument("name", metavar="NAME")
    for p in (create, listing, rotate, revoke):
        p.add_argument("--db", dest="db", default=argparse.SUPPRESS, help=db_help)
    post = sub.add_parser("post", help="post a message as a bot, through the running server's API")
    post.add_argument("room", metavar="ROOM")
    post.add_argument("message", metavar="MESSAGE", help="the text; - reads it from stdin")
    post.add_argument("--url", metavar="URL",
                      help="the server (default: CHATAPP_PUBLIC_ORIGIN, else http://HOST:PORT of the settings)")
    post.add_argument("--token", metavar="TOKEN",
                      help=f"the bot's token (default: ${TOKEN_ENV}, which other users cannot see in ps)")
    post.add_argument("--client-id", metavar="ID", help="makes a retry safe: the same id posts once")
    post.add_argument("--reply-to", type=int, metavar="ID", help="the id of the message this one answers")


def run(args: argparse.Namespace, settings: settings_mod.Settings) -> int:
    if args.command == "post":
        return _post(args, settings)
    try:
        out = _bots(args, settings)
    except (manage.BotError, StorageError) as exc:
        print(f"chatapp bots {args.bots_command}: {exc}", file=sys.stderr)
        return 1
    print(out)
    return 0


# ---- bots ----

def _on_db(db: str, work: Callable[[Storage], Awaitable[T]]) -> T:
    async def go() -> T:
        store = await open_storage(db, busy_timeout_ms=BUSY_TIMEOUT_MS)
        try:
            return await work(store)
        finally:
            await store.close()
    return asyncio.run(go())


def _bots(args: argparse.Namespace, settings: settings_mod.Settings) -> str:
    action = args.bots_command
    if action == "list":
        return _on_db(settings.storage_target, _listing)

    async def change(store: Storage) -> str:
        if action == "create":
            made = await manage.create(store, args.name, args.rooms, args.webhook, settings.webhook_allow_private)
            await store.record_audit("bot_create", "cli", detail=f"bot {made.bot.name}; rooms: "
                                     f"{manage.rooms_text(made.bot)}" + ("; webhook set" if args.webhook else ""))
            print(f"created bot {made.bot.name} (rooms: {manage.rooms_text(made.bot)}); its token, on stdout, "
                  "is shown only now", file=sys.stderr)
            if made.webhook_secret:
                print(f"webhook signing secret (shown only now): {made.webhook_secret}", file=sys.stderr)
            return made.token
        bot = await manage.find(store, args.name)
        if action == "rotate":
            token = await manage.rotate(store, bot)
            await store.record_audit("bot_rotate", "cli", detail=f"bot {bot.name}")
            print(f"new token for {bot.name} on stdout; the old one no longer works", file=sys.stderr)
            return token
        if not await manage.revoke(store, bot):
            return f"{bot.name} was already revoked"
        await store.record_audit("bot_revoke", "cli", detail=f"bot {bot.name}")
        return f"revoked {bot.name}"

    return _on_db(settings.storage_target, change)


async def _listing(store: Storage) -> str:
    rows = [("NAME", "STATE", "ROOMS", "WEBHOOK", "FAILURES", "LAST ERROR")]
    for b in await store.bots():
        rows.append((b.name, "revoked" if b.revoked_at else "active", manage.rooms_text(b), b.webhook_url or "-",
                     str(b.failures), (b.last_error or "-")[:80]))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(r[i].ljust(widths[i]) for i in range(5)) + "  " + r[5] for r in rows)


# ---- post ----

class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is answered as an error: the token is never sent anywhere else


def server_url(settings: settings_mod.Settings) -> str:
    if settings.public_origin:
        return settings.public_origin
    host = settings.host if settings.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"


def _post(args: argparse.Namespace, settings: settings_mod.Settings) -> int:
    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token:
        print(f"chatapp post: no token: set {TOKEN_ENV} (or pass --token)", file=sys.stderr)
        return 2
    text = sys.stdin.read() if args.message == "-" else args.message
    base = (args.url or server_url(settings)).rstrip("/")
    body: dict[str, Any] = {"message": text.removesuffix("\n") if args.message == "-" else text}
    if args.client_id:
        body["client_id"] = args.client_id
    if args.reply_to is not None:
        body["reply_to"] = args.reply_to
    request = urllib.request.Request(
        f"{base}/api/rooms/{quote(args.room, safe='')}/messages", data=json.dumps(body).encode("utf-8"),
        method="POST", headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    # No proxies from the environment and no redirects: the token goes to this server only.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())
    try:
        with opener.open(request, timeout=POST_TIMEOUT) as response:
            frame = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read())
            said = f"{error['error']}: {error['detail']}"
        except (ValueError, KeyError, TypeError):
            said = f"HTTP {exc.code} {exc.reason}"
        print(f"chatapp post: {said}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"chatapp post: cannot reach {base}: {reason}", file=sys.stderr)
        return 1
    print(f"posted message {frame['id']} to #{frame['room']}")
    return 0

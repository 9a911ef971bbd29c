"""``POST /api/rooms/<room>/messages``: a bot posts a message with its token.

The body is JSON, ``{"message": ..., "client_id"?: ..., "reply_to"?: ...}``, when its
Content-Type says so; anything else is the message itself as plain text (so ``curl -d
"deploy done"``, which sends ``application/x-www-form-urlencoded``, posts "deploy done"),
its trailing line break dropped. The answer is the stored chat frame: 201, or 200 with the
original for a retry of a ``client_id`` already stored. Refusals are JSON error frames
with the socket's codes and an HTTP status that fits (see :data:`~.posting.STATUS` and
docs/bots.md); a rate-limited bot is told when to come back in ``Retry-After``.
"""

from __future__ import annotations

import logging
import math

import orjson
from aiohttp import web

from .. import protocol
from ..keys import STORE
from ..models import dumps
from ..storage.records import Bot
from . import tokens
from .posting import Refused, post_as

log = logging.getLogger(__name__)

_JSON_TYPES = ("application/json",)


def error_response(refused: Refused) -> web.Response:
    response = web.json_response(refused.frame(), status=refused.status, dumps=dumps)
    if refused.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="chatapp", error="invalid_token"'
    if refused.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(refused.retry_after)))
    return response


async def authenticate(request: web.Request) -> Bot:
    """The bot whose token the request carries, or :class:`Refused` (401)."""
    token = tokens.parse(tokens.bearer(request.headers.get("Authorization")) or "")
    if token is None:
        raise Refused("invalid_token")
    found = await request.app[STORE].bot_auth(token.bot_id)
    if found is None or not tokens.matches(token.secret, found[1]):
        raise Refused("invalid_token")
    if found[0].revoked_at is not None:
        raise Refused("token_revoked")
    return found[0]


async def read_body(request: web.Request) -> tuple[object, str | None, int | None]:
    """The message (checked later, with the room), client_id and reply_to the body holds."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Refused("message_too_long") from None
    if request.content_type in _JSON_TYPES or request.content_type.endswith("+json"):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Refused("invalid_json") from None
        if not isinstance(data, dict):
            raise Refused("invalid_frame", 'The body must be a JSON object: {"message": "..."}.')
        try:
            client_id = protocol.clean_client_id(data.get("client_id"))
        except protocol.ProtocolError as exc:
            raise Refused(exc.code) from None
        try:
            reply_to = None if data.get("reply_to") is None else protocol.clean_id(data["reply_to"], "reply_not_found")
        except protocol.ProtocolError as exc:
            raise Refused(exc.code, client_id=client_id) from None
        return data.get("message"), client_id, reply_to
    try:
        text = raw.decode(request.charset or "utf-8")
    except (UnicodeDecodeError, LookupError):
        raise Refused("invalid_characters", "The body is not text in UTF-8 (or the charset it names).") from None
    return text.removesuffix("\n").removesuffix("\r"), None, None


async def post_message(request: web.Request) -> web.Response:
    try:
        bot = await authenticate(request)
        room = protocol.normalise_room(request.match_info["room"])
        if room is None:
            raise Refused("room_not_found")
        message, client_id, reply_to = await read_body(request)
        stored = await post_as(request.app, bot, room, message, client_id, reply_to)
    except Refused as refused:
        return error_response(refused)
    log.debug("bot %s posted #%d to %s", bot.name, stored.message.id, room)
    return web.Response(text=stored.text, status=200 if stored.duplicate else 201, content_type="application/json")

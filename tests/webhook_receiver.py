"""A webhook receiver for the webhook tests, run as a real local HTTP server: each path
answers one way (a text or JSON reply, a failure, a hang, a redirect, a script), every
request it gets is kept in order, and :func:`verify` checks a delivery's signature as
docs/bots.md tells a bot's author to."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any, NamedTuple

from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy

DELIVERY_TIMEOUT = 15.0


class Delivery(NamedTuple):
    kind: str
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)
        return event


class Receiver:
    """A webhook receiver: ``/hooks/<kind>`` answers the way ``kind`` says, and every request
    it gets is put in :attr:`got`, in order."""

    def __init__(self) -> None:
        self.got: asyncio.Queue[Delivery] = asyncio.Queue()
        self.release = asyncio.Event()  # lets /hooks/hang answer
        self.script: list[web.Response] = []  # what /hooks/scripted answers, in turn
        self.server: TestServer | None = None

    def url(self, kind: str, host: str = "127.0.0.1") -> str:
        assert self.server is not None
        return f"http://{host}:{self.server.port}/hooks/{kind}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        kind = request.match_info["kind"]
        body = await request.read()
        self.got.put_nowait(Delivery(kind, request.headers, body))
        if kind == "text":
            return web.Response(text=f"on it, {json.loads(body)['chat']['user']}\n")
        if kind == "json":
            return web.json_response({"message": "done"})
        if kind == "fail":
            return web.Response(status=500, text="boom")
        if kind == "hang":
            await self.release.wait()
            return web.Response(status=204)
        if kind == "redirect":
            raise web.HTTPFound("/hooks/target")
        if kind == "scripted":
            return self.script.pop(0)
        return web.Response(text="reached", content_type="text/html")

    async def next(self) -> Delivery:
        # Longer than other waits: a delivery goes through the bot's queue and worker, and
        # retries back off by seconds.
        async with asyncio.timeout(DELIVERY_TIMEOUT):
            return await self.got.get()


def verify(secret: str, delivery: Delivery) -> bool:
    """What a receiver does (docs/bots.md): HMAC-SHA256 of "<timestamp>.<body>", compared in constant time."""
    stamp = delivery.headers["X-Chatapp-Timestamp"]
    expected = "sha256=" + hmac.new(secret.encode(), stamp.encode() + b"." + delivery.body,
                                    hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(stamp)) < 300  # an old delivery replayed is refused too
    return fresh and hmac.compare_digest(expected, delivery.headers["X-Chatapp-Signature"])

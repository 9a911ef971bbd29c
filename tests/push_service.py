"""A Web Push service and a browser's push keys, for the push tests, with no outside service.

:class:`PushService` is a real HTTP server on a free port that takes the server's pushes as
a push service would (``POST /push/<name>``), answering as a test scripts it. :class:`Browser`
holds what a browser makes when it subscribes: a P-256 key pair and a 16-byte auth secret;
it decrypts a push with them (RFC 8291, ``aes128gcm``, through ``http_ece``).
:func:`vapid_claims` checks the ``Authorization`` header (RFC 8292) with ``cryptography``.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import os
from typing import Any, NamedTuple

import http_ece
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from multidict import CIMultiDictProxy

TIMEOUT = 5.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Browser:
    """One browser's push keys, made as a browser makes them."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    def subscription(self, endpoint: str) -> dict[str, Any]:
        """What ``PushSubscription.toJSON()`` gives a page."""
        point = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": endpoint, "expirationTime": None,
                "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)}}

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm")
        payload: dict[str, Any] = json.loads(plain)
        return payload


class Received(NamedTuple):
    name: str  # /push/<name>: whose subscription
    headers: CIMultiDictProxy[str]
    body: bytes


class PushService:
    """``POST /push/<name>`` answers 201, or the statuses queued in :attr:`answers` for that name."""

    def __init__(self) -> None:
        self.got: asyncio.Queue[Received] = asyncio.Queue()
        self.answers: dict[str, collections.deque[int]] = collections.defaultdict(collections.deque)
        self.server: TestServer | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/push/{name}", self.handle)
        return app

    def url(self, name: str) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}/push/{name}"

    @property
    def origin(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.got.put_nowait(Received(name, request.headers, await request.read()))
        queued = self.answers[name]
        return web.Response(status=queued.popleft() if queued else 201)

    async def next(self) -> Received:
        async with asyncio.timeout(TIMEOUT):
            return await self.got.get()

    def taken(self) -> list[Received]:
        """Every request received and not yet taken, at once (for "nothing was pushed")."""
        found = []
        while not self.got.empty():
            found.append(self.got.get_nowait())
        return found


async def start(aiohttp_server: Any) -> PushService:
    """A push service listening on a free port (``aiohttp_server`` is pytest-aiohttp's fixture)."""
    service = PushService()
    service.server = await aiohttp_server(service.app())
    return service


def vapid_claims(authorization: str, server_key: str) -> dict[str, Any]:
    """The claims of a ``vapid t=<JWT>,k=<key>`` header, after checking that ``k`` is the
    server's public key and that the JWT is signed (ES256) by its private key."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid", authorization
    fields = dict(part.split("=", 1) for part in params.split(","))
    assert fields["k"] == server_key
    header, claims, signature = fields["t"].split(".")
    assert json.loads(unb64url(header)) == {"typ": "JWT", "alg": "ES256"}
    raw = unb64url(signature)
    assert len(raw) == 64
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(server_key))
    public.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
                  f"{header}.{claims}".encode("ascii"), ec.ECDSA(hashes.SHA256()))  # raises if forged
    decoded: dict[str, Any] = json.loads(unb64url(claims))
    return decoded

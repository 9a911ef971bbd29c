"""The server's VAPID key pair (RFC 8292): how push services know that the messages for a
subscription come from the server the browser subscribed with.

The private key is the ``vapid_private_key`` setting or ``<db>.vapid`` beside the database
(PEM, made once, mode 0600, like the session key's ``<db>.secret``). The public key is the
``applicationServerKey`` a browser subscribes with; a new key pair therefore orphans every
subscription (push services refuse the new signature), which the page notices and mends
by subscribing again (static/room-notifications.js). Signing is py_vapid's (pywebpush's
own helper); a signed header is kept for an hour per push service, not made per message.

The key is loaded (or made) when it is first needed, by :class:`LazyVapidKeys`: a member
turning notifications on, or the first push. Until then neither py_vapid nor the
asymmetric half of ``cryptography`` is imported: ~1-2.5 MiB a server whose members never
use Web Push does without (tests/test_startup_imports.py keeps it so).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

from aiohttp import web
from yarl import URL

from ..settings import Settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

log = logging.getLogger(__name__)

CLAIM_LIFETIME = 12 * 3600  # seconds a signed claim is valid for (RFC 8292 caps it at 24 h)
REUSE_FOR = 3600  # seconds one signed header serves a push service before a new one is made


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from PEM, or from url-safe base64 of its raw 32 bytes or its DER
    (what ``vapid --gen`` and ``web-push generate-vapid-keys`` print); ValueError if not one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        else:
            raw = _unb64url("".join(text.split()))
            if len(raw) == 32:
                key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
            else:
                key = serialization.load_der_private_key(raw, password=None)
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError):
        raise ValueError("not a private key in PEM or url-safe base64") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("a VAPID key must be an EC key on the P-256 curve")
    return key


def key_from_setting(value: str) -> ec.EllipticCurvePrivateKey:
    """The key of the ``vapid_private_key`` setting, or SystemExit saying what a valid one is."""
    try:
        return parse_private_key(value)
    except ValueError as exc:
        raise SystemExit(
            f"chatapp: CHATAPP_VAPID_PRIVATE_KEY: {exc}; make one with: "
            "openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt"
        ) from None


def key_path(settings: Settings) -> Path | None:
    if settings.db in ("", ":memory:") or settings.db.startswith("file:"):
        return None
    return Path(settings.db + ".vapid")


def load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The key kept in ``path``, created (PEM, mode 0600, never overwritten) if it is missing."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s is readable by other users (mode %o); chmod 600 it", path, mode)
        try:
            return parse_private_key(path.read_text("ascii"))
        except (ValueError, UnicodeDecodeError):
            raise OSError(f"{path} does not hold a VAPID private key; delete it to make a new one "
                          "(every browser then subscribes again)") from None
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    log.info("created the Web Push (VAPID) key %s", path)
    return key


def subject(settings: Settings) -> str:
    """Whom a push service can contact about this server's messages."""
    if settings.vapid_subject:
        return settings.vapid_subject
    if settings.public_origin.startswith("https://"):
        return settings.public_origin
    return "mailto:chatapp@localhost"


class VapidKeys:
    """The key pair, the public key as browsers take it, and signed headers per push service."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, contact: str) -> None:
        from cryptography.hazmat.primitives import serialization
        from py_vapid import Vapid02

        # Our settings check the subject; py_vapid's own check refuses an origin with a port.
        self._signer = Vapid02(private_key, conf={"no-strict": True})
        self.subject = contact
        point = private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                      serialization.PublicFormat.UncompressedPoint)
        self.public_key = _b64url(point)  # the applicationServerKey: 65 bytes, url-safe base64
        self._signed: dict[str, tuple[float, str]] = {}

    def authorization(self, endpoint: str) -> str:
        """The ``Authorization: vapid t=<JWT>,k=<public key>`` header for a push to ``endpoint``."""
        url = URL(endpoint)
        audience = f"{url.scheme}://{url.raw_authority}"
        now = time.time()
        kept = self._signed.get(audience)
        if kept is not None and kept[0] > now:
            return kept[1]
        claims = {"aud": audience, "sub": self.subject, "exp": int(now) + CLAIM_LIFETIME}
        header = cast(dict[str, str], self._signer.sign(claims))["Authorization"]
        if len(self._signed) > 1000:  # a handful of push services in practice; never unbounded
            self._signed.clear()
        self._signed[audience] = (now + REUSE_FOR, header)
        return header


async def load(settings: Settings) -> VapidKeys:
    """The keys, from the setting or the key file (I/O: in a thread)."""
    if settings.vapid_private_key:
        key = key_from_setting(settings.vapid_private_key)
    else:
        path = key_path(settings)
        if path is None:
            log.warning("no CHATAPP_VAPID_PRIVATE_KEY and no database file: Web Push subscriptions "
                        "end with the process")
            from cryptography.hazmat.primitives.asymmetric import ec

            key = ec.generate_private_key(ec.SECP256R1())
        else:
            key = await asyncio.to_thread(load_or_create_key, path)
    return VapidKeys(key, subject(settings))


class LazyVapidKeys:
    """The server's :class:`VapidKeys`, loaded (or made) by the first :meth:`get`; a
    failed load (a damaged key file) is tried again by the next one."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._keys: VapidKeys | None = None
        self._lock = asyncio.Lock()  # one load, however many ask at once

    async def get(self) -> VapidKeys:
        keys = self._keys
        if keys is None:
            async with self._lock:
                if self._keys is None:
                    self._keys = await load(self._settings)
                keys = self._keys
        return keys


VAPID_KEYS = web.AppKey("vapid_keys", LazyVapidKeys)

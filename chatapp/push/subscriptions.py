"""What a browser may hand us as a push subscription, checked before it is stored.

A subscription's endpoint is a URL the server will later POST to, so it is a request
forgery vector: anyone with an account could aim it at ``http://127.0.0.1:6379`` or a
cloud metadata address. So an endpoint must be ``https://``, must not name a user or a
password, and when its host is an IP address, a public one. Host names are resolved at
each delivery by the bots' :class:`~chatapp.bots.guard.GuardedResolver`, which refuses a
name that resolves to a non-public address (DNS rebinding gains nothing: aiohttp
connects only to the addresses it checked). ``CHATAPP_PUSH_ALLOW_PRIVATE`` lets plain
``http://`` and non-public addresses through, for tests and a push service on the LAN.

The keys must be what RFC 8291 says: ``p256dh`` a point on P-256 (65 bytes, uncompressed),
``auth`` 16 bytes, both url-safe base64.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from typing import Any, NamedTuple

from yarl import URL

from ..bots.guard import address_problem

MAX_ENDPOINT = 2000  # characters; real push services use under 500
MAX_KEY = 200  # characters of a key as sent (87 for p256dh, 22 for auth)


class BadSubscription(ValueError):
    """Not a subscription we can use; the message says why, in a sentence."""


class Subscription(NamedTuple):
    endpoint: str
    p256dh: str
    auth: str


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def endpoint_problem(endpoint: str, allow_private: bool) -> str | None:
    """Why the server must not POST to ``endpoint``, as a sentence; None when it may (as far
    as can be told without resolving its host)."""
    if len(endpoint) > MAX_ENDPOINT:
        return f"The endpoint is longer than {MAX_ENDPOINT} characters."
    try:
        url = URL(endpoint)
    except ValueError:
        return "The endpoint is not a URL."
    if url.scheme != "https" and not (allow_private and url.scheme == "http"):
        return "A push endpoint must be an https:// URL."
    if not url.host or not url.is_absolute():
        return "A push endpoint must name a host."
    if url.user is not None or url.password is not None or url.fragment:
        return "A push endpoint may not carry a user name, a password or a fragment."
    try:
        ip = ipaddress.ip_address(url.host.strip("[]"))
    except ValueError:
        return None
    kind = address_problem(ip)
    if kind is not None and not allow_private:
        return f"{url.host} is a {kind} address: push endpoints must be public."
    return None


def parse(data: Any, allow_private: bool) -> Subscription:
    """The subscription in a browser's ``PushSubscription.toJSON()``; BadSubscription if not one."""
    if not isinstance(data, dict):
        raise BadSubscription("Send the browser's push subscription as a JSON object.")
    endpoint, keys = data.get("endpoint"), data.get("keys")
    if not isinstance(endpoint, str) or not endpoint:
        raise BadSubscription("The subscription has no endpoint.")
    problem = endpoint_problem(endpoint, allow_private)
    if problem is not None:
        raise BadSubscription(problem)
    if not isinstance(keys, dict):
        raise BadSubscription("The subscription has no keys.")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not isinstance(p256dh, str) or not isinstance(auth, str) or len(p256dh) > MAX_KEY or len(auth) > MAX_KEY:
        raise BadSubscription("The subscription's keys must be p256dh and auth, in url-safe base64.")
    # Imported here, not at start: a server whose members never subscribe never needs it (see .vapid).
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        point, secret = _unb64url(p256dh), _unb64url(auth)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (ValueError, binascii.Error):
        raise BadSubscription("The subscription's p256dh is not a P-256 public key.") from None
    if len(point) != 65 or len(secret) != 16:
        raise BadSubscription("The subscription's p256dh must be 65 bytes and its auth 16.")
    return Subscription(endpoint, p256dh, auth)

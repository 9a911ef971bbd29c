"""Who is asking, and from where: client addresses and origins behind optional proxies."""

from __future__ import annotations

import functools
import ipaddress

from aiohttp import web
from yarl import URL

from .settings import Settings


def client_addr(request: web.Request, settings: Settings) -> str:
    """The client's address; X-Forwarded-For is believed only from a trusted proxy."""
    peer = request.remote or "unknown"
    if peer not in settings.trusted_proxies:
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    # Walk from the nearest hop back; the first one that is not our own proxy is the client.
    for hop in reversed(hops):
        if hop not in settings.trusted_proxies:
            return hop
    return peer


def own_origin(request: web.Request, settings: Settings) -> str:
    if settings.public_origin:
        return settings.public_origin
    return f"{request.scheme}://{request.host}"


def origin_allowed(request: web.Request, settings: Settings) -> bool:
    """True when the request has no Origin (not a browser) or comes from our own origin."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    return origin == own_origin(request, settings) or origin in settings.allowed_origins


@functools.cache
def _known_hosts(settings: Settings) -> frozenset[str]:
    names = {"localhost", *settings.allowed_hosts}
    for origin in (settings.public_origin, *settings.allowed_origins):
        if origin:
            host = URL(origin).host
            if host:
                names.add(host.lower())
    return frozenset(names)


def host_allowed(request: web.Request, settings: Settings) -> bool:
    """Whether the Host header names this server, so a page on a DNS name that was made to
    point at us (DNS rebinding) cannot read or post. IP addresses cannot be rebound and are
    always fine; names must be localhost (or under it), or configured."""
    raw = request.host
    try:
        host = URL(f"http://{raw}").host
    except ValueError:
        return False
    if not host:
        return False
    host = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    return host in _known_hosts(settings) or host.endswith(".localhost")

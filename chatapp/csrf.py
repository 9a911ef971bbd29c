"""Forged requests: every state-changing request must come from our own origin and carry
the CSRF token of the browser's session cookie.

The token is random, made on first use and kept in the encrypted session cookie
(:mod:`chatapp.sessions`), so a visitor who is not logged in has one too (the login form
needs it). Forms send it as the ``csrf_token`` field, scripts as the ``X-CSRF-Token``
header. :func:`check` is all a gate has to call for a POST; :func:`token` is what a page
puts in its forms.
"""

from __future__ import annotations

import hmac
import logging
import secrets

from aiohttp import web
from yarl import URL

from . import sessions
from .keys import SETTINGS
from .netutil import own_origin

log = logging.getLogger(__name__)

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def token(request: web.Request) -> str:
    """This session's CSRF token, made (and the cookie set) on first use."""
    session = await sessions.cookie(request)
    value = session.get("csrf")
    if not isinstance(value, str) or not value:
        value = secrets.token_urlsafe(32)
        session["csrf"] = value
    return value


def same_origin(request: web.Request) -> bool:
    settings = request.config_dict[SETTINGS]
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not sent by older browsers on same-origin posts; the token still applies
    origin = origin.rstrip("/")
    if origin == own_origin(request, settings):
        return True
    if settings.public_origin or origin == "null":
        return False
    # Behind a TLS-ending proxy the scheme we see is http while the browser's is https;
    # the host (and port) still has to be ours.
    try:
        authority = URL(origin).raw_authority
    except ValueError:
        return False
    return bool(authority) and authority.lower() == request.host.lower()


def check_origin(request: web.Request) -> None:
    """Refuse (403) a request another site made the browser send."""
    if not same_origin(request):
        log.warning("refused a cross-site %s %s (Origin %s, Sec-Fetch-Site %s)", request.method,
                    request.path, request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site"))
        raise web.HTTPForbidden(text="Cross-site request refused.")


async def check_token(request: web.Request) -> None:
    """Refuse (403) a request without this session's token."""
    want = (await sessions.cookie(request)).get("csrf")
    got = request.headers.get(CSRF_HEADER)
    if got is None:
        form = await request.post()
        value = form.get(CSRF_FIELD)
        got = value if isinstance(value, str) else None
    if not isinstance(want, str) or not want or got is None or not hmac.compare_digest(
            want.encode("ascii"), got.encode("utf-8", "surrogatepass")):
        raise web.HTTPForbidden(
            text="The form's security token is missing or stale. Reload the page and try again.")


async def check(request: web.Request) -> None:
    """Refuse (403) a state-changing request from another site or without this session's token."""
    check_origin(request)
    await check_token(request)

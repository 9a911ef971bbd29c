"""Cross-cutting HTTP behaviour: error pages and security headers on every response."""

from __future__ import annotations

import logging
from collections.abc import Awaitable

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from .keys import SETTINGS
from .models import dumps
from .netutil import host_allowed

log = logging.getLogger(__name__)

WEBSOCKET_ROUTE = "ws"  # chatapp.routes: its handler (chatapp.ws) answers its own errors

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)

_TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    421: "Misdirected request",
    429: "Too many requests",
    500: "Server error",
    503: "Unavailable",
}


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def error_response(request: web.Request, status: int, detail: str) -> web.Response:
    if _wants_json(request):
        return web.json_response(
            {"error": _TITLES.get(status, "error").lower().replace(" ", "_"), "detail": detail},
            status=status, dumps=dumps,
        )
    response = aiohttp_jinja2.render_template(
        "error.html", request,
        {"status": status, "title": _TITLES.get(status, "Error"), "detail": detail},
    )
    response.set_status(status)
    return response


@web.middleware
def known_host(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    """Answer only requests addressed to this server by a name it knows (see host_allowed).

    A plain function handing back the handler's own coroutine, not an ``async def`` that
    awaits it: a middleware's frame lives as long as the request, which for a WebSocket is
    the whole connection (~0.5 KiB for each of 10,000 held sockets).
    """
    if not host_allowed(request, request.app[SETTINGS]):
        log.warning("refused a request for host %r", request.host)
        return _answer(error_response(
            request, 421,
            "This server does not answer to that host name. Its operator can add it with "
            "CHATAPP_ALLOWED_HOSTS or CHATAPP_PUBLIC_ORIGIN."))
    return handler(request)


async def _answer(response: web.StreamResponse) -> web.StreamResponse:
    return response


@web.middleware
def errors(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    """Every refusal and unexpected error as the error page (JSON under /api/): see
    :func:`error_page`.

    Not for the WebSocket route, whose handler answers its refused handshakes with
    :func:`error_page` itself: like :func:`known_host`, this hands back the handler's own
    coroutine there, as a frame of ours would live as long as each socket (~0.3 KiB for
    each of 10,000 held sockets).
    """
    if request.match_info.route.name == WEBSOCKET_ROUTE:
        return handler(request)
    return _answering_errors(request, handler)


async def _answering_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Exception as exc:
        response = error_page(request, exc)
        if response is None:
            raise
        return response


def error_page(request: web.Request, exc: Exception) -> web.StreamResponse | None:
    """The answer to a request whose handler raised ``exc``: the error page (or JSON) with
    the exception's status and reason, or the 500 page for anything but an HTTP error (then
    logged); None for what passes through as it is (a redirect, a JSON refusal)."""
    if not isinstance(exc, web.HTTPException):
        log.error("error handling %s %s", request.method, request.path, exc_info=exc)
        return error_response(request, 500, "Something went wrong on the server. It was logged.")
    if exc.status < 400 or exc.content_type == "application/json":
        return None
    detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
    response = error_response(request, exc.status, detail or exc.reason)
    for name in ("Retry-After", "Allow"):
        if name in exc.headers:
            response.headers[name] = exc.headers[name]
    return response


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every page, file and API answer.

    Not the 101 of a WebSocket handshake: the headers mean nothing there, and the
    response object lives as long as the socket, so they would cost every held
    connection memory for nothing.
    """
    if response.status == 101:
        return
    headers = response.headers
    if request.path.startswith("/static/") and response.status == 200:
        # A versioned URL (?v=<hash>) never changes; the modules a page script imports by
        # plain relative path must be revalidated (ETag), or an upgrade could mix versions.
        headers.setdefault("Cache-Control", "public, max-age=31536000, immutable"
                           if "v" in request.query else "no-cache")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if response.content_type == "text/html":
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Frame-Options", "DENY")

"""Operator authentication for the admin: password, session cookie, CSRF and login throttling.

The session lives in an encrypted, authenticated cookie (aiohttp-session's
``EncryptedCookieStorage``, Fernet). Its key comes from the ``secret`` setting or, when
that is empty, from ``<db>.secret`` beside the database, created once (mode 0600) so a
restart does not log the operator out. The password comes from ``admin_password`` or is
generated at start and logged once. Every state-changing request must come from our own
origin and carry the session's CSRF token; wrong passwords from one address are answered
ever more slowly.

Other modules use :func:`require_admin`, :func:`is_admin`, :func:`csrf_token` and
:func:`setup_auth`; nothing else here is meant to be called from outside.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
import stat
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_session import AbstractStorage, Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet
from yarl import URL

from .keys import SETTINGS
from .netutil import client_addr, own_origin
from .settings import Settings

log = logging.getLogger(__name__)

LOGIN_PATH = "/admin/login"
COOKIE_NAME = "chatapp_admin"
SESSION_MAX_AGE = 7 * 24 * 3600  # a week: long enough to be convenient, short enough to expire
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Throttling: this many wrong passwords are free; after that each one doubles the wait.
FREE_ATTEMPTS = 5
MAX_DELAY = 300.0
FORGET_AFTER = 3600.0  # an address quiet this long starts afresh
MAX_TRACKED = 10_000  # addresses remembered at once, so a spray cannot grow memory


class LoginThrottle:
    """Per-address failure counts; an address past its free attempts must wait, doubling."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}

    def retry_after(self, addr: str) -> float:
        """Seconds ``addr`` must still wait before its next attempt is even checked; 0 if none."""
        entry = self._failures.get(addr)
        if entry is None:
            return 0.0
        failures, last = entry
        now = self.clock()
        if now - last > FORGET_AFTER:
            del self._failures[addr]
            return 0.0
        if failures < FREE_ATTEMPTS:
            return 0.0
        delay = min(MAX_DELAY, 2.0 ** (failures - FREE_ATTEMPTS))
        return max(0.0, last + delay - now)

    def failed(self, addr: str) -> int:
        now = self.clock()
        failures, last = self._failures.get(addr, (0, now))
        if now - last > FORGET_AFTER:
            failures = 0
        self._failures[addr] = (failures + 1, now)
        if len(self._failures) > MAX_TRACKED:
            self._prune(now)
        return failures + 1

    def succeeded(self, addr: str) -> None:
        self._failures.pop(addr, None)

    def _prune(self, now: float) -> None:
        for addr, (_, last) in list(self._failures.items()):
            if now - last > FORGET_AFTER:
                del self._failures[addr]
        # Still too many: forget the addresses that failed longest ago.
        excess = len(self._failures) - MAX_TRACKED
        if excess > 0:
            for addr, _ in sorted(self._failures.items(), key=lambda kv: kv[1][1])[:excess]:
                del self._failures[addr]


class SessionStorage(AbstractStorage):
    """EncryptedCookieStorage whose key is loaded at start-up and whose Secure flag is per request.

    The session middleware must be installed while the factory runs, but reading or
    creating the key file is I/O, which belongs to start-up; so this storage holds two
    ``EncryptedCookieStorage`` (plain and Secure) created once the key is known.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(cookie_name=COOKIE_NAME, max_age=SESSION_MAX_AGE, httponly=True,
                         samesite="Strict")
        self._settings = settings
        self._plain: EncryptedCookieStorage | None = None
        self._secure: EncryptedCookieStorage | None = None

    def configure(self, fernet: Fernet) -> None:
        def make(secure: bool) -> EncryptedCookieStorage:
            return EncryptedCookieStorage(
                fernet, cookie_name=COOKIE_NAME, max_age=SESSION_MAX_AGE, path="/",
                secure=secure or None, httponly=True, samesite="Strict",
            )
        self._plain, self._secure = make(False), make(True)

    def _inner(self, secure: bool) -> EncryptedCookieStorage:
        inner = self._secure if secure else self._plain
        if inner is None:
            raise RuntimeError("the admin session key is not loaded yet (app not started)")
        return inner

    def wants_secure(self, request: web.Request) -> bool:
        s = self._settings
        return request.secure or s.secure_cookies or s.public_origin.startswith("https://")

    async def load_session(self, request: web.Request) -> Session:
        return await self._inner(False).load_session(request)

    async def save_session(self, request: web.Request, response: web.StreamResponse,
                           session: Session) -> None:
        await self._inner(self.wants_secure(request)).save_session(request, response, session)


class AdminAuth:
    """The admin's authentication state for one app."""

    def __init__(self, settings: Settings) -> None:
        self.password = settings.admin_password
        self.storage = SessionStorage(settings)
        self.throttle = LoginThrottle()

    def check_password(self, candidate: str) -> bool:
        # Hash both sides first so the comparison's time says nothing, not even the length.
        want = hashlib.sha256(self.password.encode("utf-8")).digest()
        got = hashlib.sha256(candidate.encode("utf-8", "surrogatepass")).digest()
        return bool(self.password) and hmac.compare_digest(want, got)


AUTH = web.AppKey("admin_auth", AdminAuth)


# ---- the session key ----

def fernet_from_setting(value: str) -> Fernet:
    """The Fernet for a ``secret`` setting, or SystemExit saying what a valid one looks like."""
    try:
        return Fernet(value.strip().encode("ascii"))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise SystemExit(
            "chatapp: CHATAPP_SECRET must be 32 bytes in url-safe base64 (44 characters); "
            "make one with: python -c 'import secrets, base64; "
            "print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'"
        ) from None


def secret_path(settings: Settings) -> Path | None:
    if settings.db in ("", ":memory:") or settings.db.startswith("file:"):
        return None
    return Path(settings.db + ".secret")


def load_or_create_key(path: Path) -> bytes:
    """The key kept in ``path``, created (mode 0600, never overwritten) if it is missing."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s is readable by other users (mode %o); chmod 600 it", path, mode)
        key = path.read_bytes().strip()
        try:
            Fernet(key)
        except (ValueError, binascii.Error):
            raise OSError(f"{path} does not hold a valid session key; delete it to make a new one") from None
        return key
    key = base64.urlsafe_b64encode(secrets.token_bytes(32))
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
        f.flush()
        os.fsync(f.fileno())
    log.info("created the admin session key %s", path)
    return key


async def _start(app: web.Application) -> None:
    settings = app[SETTINGS]
    auth = app[AUTH]
    if settings.secret:
        fernet = fernet_from_setting(settings.secret)
    else:
        path = secret_path(settings)
        if path is None:
            log.warning("no CHATAPP_SECRET and no database file: admin sessions end with the process")
            fernet = Fernet(Fernet.generate_key())
        else:
            fernet = Fernet(await asyncio.to_thread(load_or_create_key, path))
    auth.storage.configure(fernet)
    if not auth.password:
        auth.password = secrets.token_urlsafe(24)
        log.warning("CHATAPP_ADMIN_PASSWORD is not set; the admin password for this run is: %s",
                    auth.password)


# aiohttp-session's own middleware keeps its state under string keys on the request,
# which aiohttp 3.14 warns about on every request (NotAppKeyWarning; an error under our
# pytest settings). So the library does the cryptography and the cookie, and these few
# lines do what its middleware did, with typed keys.
_SESSION = web.RequestKey("admin_session", Session)
_LOADED = web.RequestKey("admin_session_loaded", dict)


async def get_session(request: web.Request) -> Session:
    session = request.get(_SESSION)
    if session is None:
        session = await request.app[AUTH].storage.load_session(request)
        request[_SESSION] = session
        request[_LOADED] = dict(session)
    return session


async def new_session(request: web.Request) -> Session:
    """A fresh, empty session replacing whatever the cookie held."""
    session = await request.app[AUTH].storage.new_session()
    request[_SESSION] = session
    request[_LOADED] = {}
    return session


async def _save(request: web.Request, response: web.StreamResponse) -> None:
    session = request.get(_SESSION)
    if session is None or dict(session) == request.get(_LOADED):
        return
    if response.prepared:
        log.warning("%s %s changed the admin session after its response started; not saved",
                    request.method, request.path)
        return
    await request.app[AUTH].storage.save_session(request, response, session)


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # a raised redirect carries the cookie too
        await _save(request, exc)
        raise
    if isinstance(response, web.Response):  # not a WebSocket or a streamed body
        await _save(request, response)
    return response


def setup_auth(app: web.Application) -> None:
    """Install the session middleware and the start-up step that loads the key. Idempotent.

    Runs in the synchronous factory: middlewares can only be added before the app is frozen.
    """
    if AUTH in app:
        return
    settings = app[SETTINGS]
    if settings.secret:
        fernet_from_setting(settings.secret)  # a bad key stops the factory, before serving
    app[AUTH] = AdminAuth(settings)
    app.middlewares.append(session_middleware)
    app.on_startup.append(_start)


# ---- sessions and checks ----

async def is_admin(request: web.Request) -> bool:
    session = await get_session(request)
    return session.get("admin") is True


async def csrf_token(request: web.Request) -> str:
    """This session's CSRF token, made (and the cookie set) on first use."""
    session = await get_session(request)
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


async def log_in(request: web.Request) -> None:
    session = await new_session(request)
    session["admin"] = True
    session["csrf"] = secrets.token_urlsafe(32)  # a fresh token for the fresh privilege


async def log_out(request: web.Request) -> None:
    session = await get_session(request)
    session.invalidate()


def _same_origin(request: web.Request) -> bool:
    settings = request.app[SETTINGS]
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


def _check_origin(request: web.Request) -> None:
    if not _same_origin(request):
        log.warning("refused a cross-site %s %s (Origin %s, Sec-Fetch-Site %s)", request.method,
                    request.path, request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site"))
        raise web.HTTPForbidden(text="Cross-site request refused.")


async def check_post(request: web.Request) -> None:
    """Refuse (403) a state-changing request from another site or without this session's token."""
    _check_origin(request)
    session = await get_session(request)
    want = session.get("csrf")
    got = request.headers.get(CSRF_HEADER)
    if got is None:
        form = await request.post()
        value = form.get(CSRF_FIELD)
        got = value if isinstance(value, str) else None
    if not isinstance(want, str) or not want or got is None or not hmac.compare_digest(
            want.encode("ascii"), got.encode("utf-8", "surrogatepass")):
        raise web.HTTPForbidden(
            text="The form's security token is missing or stale. Reload the page and try again.")


def safe_next(value: str | None) -> str:
    """A local path to go to after logging in; anything else becomes the admin home."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/admin"
    return value


async def require_admin(request: web.Request) -> None:
    """Let a logged-in operator through; otherwise send GETs to the login page and refuse the rest.

    For a state-changing method it also checks the origin and the CSRF token, so every
    POST behind it is protected without each handler remembering to.
    """
    if request.method in SAFE_METHODS:
        if not await is_admin(request):
            raise web.HTTPFound(URL(LOGIN_PATH).with_query(next=request.path_qs))
        return
    _check_origin(request)
    if not await is_admin(request):
        raise web.HTTPForbidden(text="Log in as the operator first.")
    await check_post(request)



def login_wait(request: web.Request) -> float:
    """Seconds this client must wait before its next password is even looked at."""
    addr = client_addr(request, request.app[SETTINGS])
    return request.app[AUTH].throttle.retry_after(addr)


async def attempt_login(request: web.Request, password: str) -> bool:
    """Check ``password``; log the session in on success, count a failure against the address."""
    auth = request.app[AUTH]
    addr = client_addr(request, request.app[SETTINGS])
    if auth.check_password(password):
        auth.throttle.succeeded(addr)
        await log_in(request)
        log.info("admin logged in from %s", addr)
        return True
    failures = auth.throttle.failed(addr)
    log.warning("wrong admin password from %s (%d in a row)", addr, failures)
    return False

"""Sessions: who a browser is, kept on the server so that logging out ends it everywhere.

Two layers. **The cookie** is aiohttp-session's ``EncryptedCookieStorage`` (Fernet): the
browser holds it but can neither read nor forge it. It is ``HttpOnly``, ``SameSite=Strict``
and ``Secure`` over HTTPS; its key is the ``secret`` setting or ``<db>.secret`` beside the
database, made once (mode 0600) so a restart logs nobody out. Any visitor may have one:
it carries the CSRF token (:mod:`chatapp.csrf`) and a one-time notice. **The session
record** makes a cookie someone's: at login (:func:`start`) the cookie gets a fresh random
id and the database a row under the SHA-256 of that id, saying whose it is and until when.
:func:`current` checks that row on every request that asks (one indexed read, remembered
for that request only), so deleting it (:func:`end`, :func:`end_all`) ends the session in
every browser the cookie was copied to. A session lasts :data:`SESSION_IDLE` after its last
use and at most :data:`SESSION_LIFETIME` after its login.

The operator's admin uses it now (kind ``operator``); members will use the same records.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import stat
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NamedTuple

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_session import AbstractStorage, Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet, InvalidToken

from .keys import SETTINGS, STORE
from .models import iso_utc
from .settings import Settings
from .storage import Member, SessionRecord

log = logging.getLogger(__name__)

COOKIE_NAME = "chatapp_admin"  # the name it has always had: renaming it would log everyone out
# Module constants for now; candidates for CHATAPP_SESSION_* settings once members use them.
SESSION_IDLE = dt.timedelta(days=7)  # unused this long, a session ends
SESSION_LIFETIME = dt.timedelta(days=30)  # however busy, log in again after this
TOUCH_EVERY = dt.timedelta(minutes=5)  # a session in use is written at most this often
COOKIE_MAX_AGE = int(SESSION_IDLE.total_seconds())  # the browser keeps it, and we accept it, this long
OPENED_COOKIES = 1024  # decrypted cookies remembered (see CookieStorage.load_session)


class Principal(NamedTuple):
    """Whom a session belongs to: a kind (``operator``, later ``member``) and which one."""

    kind: str
    subject: str


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def id_hash(session_id: str) -> str:
    """What the database knows of a session id: its SHA-256, so a leaked copy opens nothing."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


# ---- the cookie ----

class CookieStorage(AbstractStorage):
    """EncryptedCookieStorage whose key is loaded at start-up and whose Secure flag is per request.

    The session middleware must be installed while the factory runs, but reading or
    creating the key file is I/O, which belongs to start-up; so this storage holds two
    ``EncryptedCookieStorage`` (plain and Secure) created once the key is known.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(cookie_name=COOKIE_NAME, max_age=COOKIE_MAX_AGE,
                         httponly=True, samesite="Strict")
        self._settings = settings
        self._fernet: Fernet | None = None
        self._plain: EncryptedCookieStorage | None = None
        self._secure: EncryptedCookieStorage | None = None
        # Cookie -> (when it was made, its decrypted JSON), for cookies seen lately.
        self._opened: collections.OrderedDict[str, tuple[int, str]] = collections.OrderedDict()

    def configure(self, fernet: Fernet) -> None:
        self._fernet = fernet

        def make(secure: bool) -> EncryptedCookieStorage:
            return EncryptedCookieStorage(
                fernet, cookie_name=COOKIE_NAME, max_age=COOKIE_MAX_AGE, path="/",
                secure=secure or None, httponly=True, samesite="Strict",
            )
        self._plain, self._secure = make(False), make(True)

    def _inner(self, secure: bool) -> EncryptedCookieStorage:
        inner = self._secure if secure else self._plain
        if inner is None:
            raise RuntimeError("the session key is not loaded yet (app not started)")
        return inner

    def wants_secure(self, request: web.Request) -> bool:
        s = self._settings
        return request.secure or s.secure_cookies or s.public_origin.startswith("https://")

    async def load_session(self, request: web.Request) -> Session:
        """What EncryptedCookieStorage loads, decrypting a cookie only the first time it is
        seen: a browser sends the same one with every request until it changes, and checking
        and decrypting it was ~2 % of a member's room page. A remembered one still expires
        exactly as the library would refuse it (``max_age`` after it was made)."""
        token = request.cookies.get(COOKIE_NAME)
        if token is None or self._fernet is None:
            return await self._inner(False).load_session(request)
        opened = self._opened.get(token)
        if opened is not None and opened[0] + COOKIE_MAX_AGE >= int(time.time()):
            self._opened.move_to_end(token)
        else:
            try:
                text = self._fernet.decrypt(token.encode("utf-8"), ttl=COOKIE_MAX_AGE).decode("utf-8")
                opened = (self._fernet.extract_timestamp(token.encode("utf-8")), text)
            except (InvalidToken, UnicodeError):
                self._opened.pop(token, None)
                return await self._inner(False).load_session(request)  # it logs, and starts afresh
            self._opened[token] = opened
            if len(self._opened) > OPENED_COOKIES:
                self._opened.popitem(last=False)
        return Session(None, data=json.loads(opened[1]), new=False, max_age=COOKIE_MAX_AGE)

    async def save_session(self, request: web.Request, response: web.StreamResponse,
                           session: Session) -> None:
        await self._inner(self.wants_secure(request)).save_session(request, response, session)


class Sessions:
    """One app's sessions: the cookie storage, and the clock the records expire by."""

    def __init__(self, settings: Settings) -> None:
        self.cookies = CookieStorage(settings)
        self.clock: Callable[[], dt.datetime] = _utc_now


SESSIONS = web.AppKey("sessions", Sessions)


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
    log.info("created the session key %s", path)
    return key


async def _load_key(app: web.Application) -> None:
    settings = app[SETTINGS]
    if settings.secret:
        fernet = fernet_from_setting(settings.secret)
    else:
        path = secret_path(settings)
        if path is None:
            log.warning("no CHATAPP_SECRET and no database file: sessions end with the process")
            fernet = Fernet(Fernet.generate_key())
        else:
            fernet = Fernet(await asyncio.to_thread(load_or_create_key, path))
    app[SESSIONS].cookies.configure(fernet)


# aiohttp-session's own middleware keeps its state under string keys on the request,
# which aiohttp 3.14 warns about on every request (NotAppKeyWarning; an error under our
# pytest settings). So the library does the cryptography and the cookie, and these few
# lines do what its middleware did, with typed keys.
_COOKIE = web.RequestKey("session_cookie", Session)
_LOADED = web.RequestKey("session_cookie_loaded", dict)
_RECORD: web.RequestKey[SessionRecord | None] = web.RequestKey("session_record")
_MEMBER_ROW: web.RequestKey[Member | None] = web.RequestKey("session_member_row")


async def cookie(request: web.Request) -> Session:
    """This request's cookie session (loaded on first use, saved with the response if changed)."""
    session = request.get(_COOKIE)
    if session is None:
        session = await request.config_dict[SESSIONS].cookies.load_session(request)
        request[_COOKIE] = session
        request[_LOADED] = dict(session)
    return session


async def _fresh_cookie(request: web.Request) -> Session:
    """A new, empty cookie session replacing whatever the browser sent."""
    session = await request.config_dict[SESSIONS].cookies.new_session()
    request[_COOKIE] = session
    request[_LOADED] = {}
    return session


async def _save(request: web.Request, response: web.StreamResponse) -> None:
    session = request.get(_COOKIE)
    if session is None or dict(session) == request.get(_LOADED):
        return
    if response.prepared:
        log.warning("%s %s changed the session after its response started; not saved",
                    request.method, request.path)
        return
    await request.config_dict[SESSIONS].cookies.save_session(request, response, session)


@web.middleware
def session_middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    # A WebSocket answers with no cookie to save: hand its handler straight back, so no
    # middleware frame is held for the life of the connection.
    if request.path.startswith("/ws/"):
        return handler(request)
    return _saving_session(request, handler)


async def _saving_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # a raised redirect carries the cookie too
        await _save(request, exc)
        raise
    if isinstance(response, web.Response):  # not a WebSocket or a streamed body
        await _save(request, response)
    return response


def setup_sessions(app: web.Application) -> None:
    """Install the session middleware and the start-up step that loads the key.

    Runs in the synchronous factory: middlewares can only be added before the app is frozen.
    """
    settings = app[SETTINGS]
    if settings.secret:
        fernet_from_setting(settings.secret)  # a bad key stops the factory, before serving
    app[SESSIONS] = Sessions(settings)
    app.middlewares.append(session_middleware)
    app.on_startup.append(_load_key)


# ---- the records ----

async def current(request: web.Request) -> SessionRecord | None:
    """The live session this request's cookie names, or None; checked once per request.

    A session in use is touched (its expiry moved on, the cookie sent again) at most every
    :data:`TOUCH_EVERY`, so an admin page polling every few seconds does not write each time.
    """
    if _RECORD in request:
        return request[_RECORD]
    if COOKIE_NAME not in request.cookies:
        return None  # no cookie, no session: nothing to load, nothing kept on the request
    session = await cookie(request)
    sid = session.get("sid")
    record = member = None
    if isinstance(sid, str) and sid:
        sessions, store = request.config_dict[SESSIONS], request.config_dict[STORE]
        now = sessions.clock()
        found = await store.live_session_member(id_hash(sid), iso_utc(now))
        if found is None:
            del session["sid"]  # ended or expired: stop asking the database about it
        else:
            record, member = found
        if record is not None and now - _instant(record.last_seen_at) >= TOUCH_EVERY:
            expires = min(_instant(record.created_at) + SESSION_LIFETIME, now + SESSION_IDLE)
            await store.touch_session(id_hash(sid), iso_utc(now), iso_utc(expires))
            record = record._replace(last_seen_at=iso_utc(now), expires_at=iso_utc(expires))
            # Changing the cookie sends it again, with its own expiry (and aiohttp-session's
            # "created", which it also expires by) starting afresh.
            session["seen"] = record.last_seen_at
    request[_RECORD] = record
    request[_MEMBER_ROW] = member
    return record


async def member_row(request: web.Request) -> Member | None:
    """The member this request's live session belongs to (kind ``member``), as read with
    the session: one query, not two. None without a session, for another kind, or for a
    session started by this request. Whether the member may come in (their status, the
    cookie's session version) is :mod:`chatapp.accounts`' to decide."""
    await current(request)
    return request.get(_MEMBER_ROW)


async def start(request: web.Request, who: Principal) -> SessionRecord:
    """Log ``who`` in: a new session id in a new cookie (never the one the browser came
    with, so a planted cookie gains nothing), and the old session, if any, ended."""
    store, sessions = request.config_dict[STORE], request.config_dict[SESSIONS]
    old = (await cookie(request)).get("sid")
    if isinstance(old, str) and old:
        await store.delete_session(id_hash(old))
    now = sessions.clock()
    swept = await store.delete_expired_sessions(iso_utc(now))
    if swept:
        log.info("removed %d expired sessions", swept)
    sid = secrets.token_urlsafe(32)
    expires = now + min(SESSION_IDLE, SESSION_LIFETIME)
    await store.create_session(id_hash(sid), who.kind, who.subject, iso_utc(now), iso_utc(expires))
    session = await _fresh_cookie(request)
    session["sid"] = sid
    record = SessionRecord(who.kind, who.subject, iso_utc(now), iso_utc(now), iso_utc(expires))
    request[_RECORD] = record
    request[_MEMBER_ROW] = None
    return record


async def end(request: web.Request) -> None:
    """Log out: delete this session's record, so every copy of the cookie stops working."""
    session = await cookie(request)
    sid = session.get("sid")
    if isinstance(sid, str) and sid:
        await request.config_dict[STORE].delete_session(id_hash(sid))
    session.invalidate()
    request[_RECORD] = request[_MEMBER_ROW] = None


async def end_all(request: web.Request, who: Principal) -> int:
    """Log ``who`` out everywhere, this browser included; how many sessions ended."""
    ended = await request.config_dict[STORE].delete_sessions_of(who.kind, who.subject)
    (await cookie(request)).invalidate()
    request[_RECORD] = request[_MEMBER_ROW] = None
    return ended

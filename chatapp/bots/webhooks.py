"""Webhooks: when people mention a bot (``@deploy``), chatapp POSTs the message to the bot's
webhook, signed, and posts a reply the webhook answers with back into the room as the bot.

The chat writer never waits for any of it. Its publish callback calls
:meth:`Dispatcher.observe` after the hub: with no bot webhooks that is one attribute test a
batch; otherwise a ``"@" in body`` test a message, and only for messages with an ``@`` a
regular expression and a dict lookup per mention. A mention of a bot with a webhook, in a
room the bot may use, is put into a bounded queue (full: dropped and logged, never
waited for). One task (:meth:`Dispatcher.route`) hands each job to its bot's own worker,
which delivers that bot's jobs one after another: a webhook that hangs holds up only its
own bot's mentions, and a bot with too many waiting has the excess dropped (and counted).

A delivery is tried up to :data:`ATTEMPTS` times, each within ``CHATAPP_WEBHOOK_TIMEOUT``,
with a growing pause between: timeouts, connection errors, 5xx, 408 and 429 are tried
again; a redirect (never followed), any other 4xx and an address refused by
:mod:`~chatapp.bots.guard` are not. After a delivery is given up on, the bot's next ones
are tried once each until one gets through. A delivery given up on counts in the bot's failures,
with its last error, which ``/admin/bots`` shows. A 2xx answer whose body is text
(``text/plain``) or JSON ``{"message": "..."}`` is posted as the bot, replying to the
message that mentioned it, through the same checks as the bot API (:mod:`.posting`).

Messages from bots (any bot) never call webhooks, so two bots cannot keep answering each
other; edits of a message do not either: only a new message mentions.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import logging
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import NamedTuple

import aiohttp
import orjson
from aiohttp import web

from .. import __version__
from ..keys import SETTINGS, STORE
from ..models import dumps, utc_now_iso
from ..writer import Stored
from .directory import BOTS, may_use, visibility, visibility_hint
from .guard import GuardedResolver, WebhookRefused, url_problem
from .posting import Refused, post_as

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000  # mentions waiting for the router, all bots together
PER_BOT_WAITING = 100  # deliveries one bot may have waiting; more are dropped
ATTEMPTS = 3
BACKOFF = 1.0  # seconds before the second attempt, doubled before each one after
MAX_REPLY = 64 * 1024  # bytes of a webhook's answer read at most
MAX_ERROR = 300  # characters of an error kept for the admin
RETRY_STATUSES = frozenset({408, 425, 429})

# "@name" not preceded by a word character (so not an e-mail address); bot names are
# [A-Za-z0-9_-] (chatapp.bots.manage).
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_-]{1,32})(?![A-Za-z0-9_-])")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Chatapp-Signature`` header: HMAC-SHA256 of ``<timestamp>.<body>``."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class Job(NamedTuple):
    bot_id: int
    stored: Stored


class Outcome(NamedTuple):
    delivered: bool  # the webhook took it (a 2xx)
    error: str | None = None
    retry: bool = False
    reply: str | None = None


class _Waiting:
    """One bot's deliveries waiting for its worker, and how many were dropped meanwhile."""

    __slots__ = ("dropped", "jobs")

    def __init__(self) -> None:
        self.jobs: collections.deque[Job] = collections.deque()
        self.dropped = 0


class Dispatcher:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.directory = app[BOTS]  # set up before the dispatcher (chatapp.bots.setup_bots)
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.dropped = 0  # mentions the full queue turned away, since start
        self._waiting: dict[int, _Waiting] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        # Bots whose last delivery was given up on: their next ones are tried once, until
        # one gets through, so a dead webhook's backlog drains instead of piling up retries.
        self._failing: set[int] = set()
        self.session: aiohttp.ClientSession | None = None

    # ---- in the writer's publish callback: no awaiting, nothing that can raise ----

    def observe(self, batch: Sequence[Stored]) -> None:
        directory = self.directory
        if not directory.hooked:
            return
        try:
            for stored in batch:
                m = stored.message
                if m.bot_id is not None or "@" not in m.body:
                    continue
                for name in {n.lower() for n in MENTION.findall(m.body)}:
                    bot = directory.hooked_bot(name)
                    if bot is not None and may_use(bot, m.room, visibility_hint(self.app, m.room)):
                        self._enqueue(Job(bot.id, stored))
        except Exception:  # the writer must never fail for a webhook
            log.exception("webhook observer failed")

    def _enqueue(self, job: Job) -> None:
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % 100 == 1:
                log.warning("webhook queue full: %d mentions dropped since start", self.dropped)

    # ---- the router and the per-bot workers ----

    async def route(self) -> None:
        while True:
            job = await self.queue.get()
            waiting = self._waiting.setdefault(job.bot_id, _Waiting())
            if len(waiting.jobs) >= PER_BOT_WAITING:
                waiting.dropped += 1
            else:
                waiting.jobs.append(job)
            if job.bot_id not in self._workers:
                self._workers[job.bot_id] = asyncio.create_task(
                    self._work(job.bot_id), name=f"chatapp-webhook-{job.bot_id}")

    async def _work(self, bot_id: int) -> None:
        try:
            while True:
                waiting = self._waiting.get(bot_id)
                if waiting is None or not (waiting.jobs or waiting.dropped):
                    self._waiting.pop(bot_id, None)
                    return  # no await since the test: the router starts a new worker next time
                if waiting.dropped:
                    dropped, waiting.dropped = waiting.dropped, 0
                    await self._record(bot_id, f"{dropped} mentions dropped: the webhook answers too slowly "
                                               f"for how often the bot is mentioned")
                    continue
                job = waiting.jobs.popleft()
                try:
                    await self.deliver(job)
                except Exception:  # one bad delivery must not stop the bot's others
                    log.exception("webhook delivery for bot #%d failed", bot_id)
        finally:
            self._workers.pop(bot_id, None)

    async def close(self) -> None:
        tasks = list(self._workers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- one delivery ----

    async def deliver(self, job: Job) -> None:
        bot = self.directory.get(job.bot_id)
        m = job.stored.message
        if bot is None or not bot.webhook_url or not bot.webhook_secret:
            return  # its webhook was removed since
        if not may_use(bot, m.room, await visibility(self.app, m.room)):
            return  # revoked, or its rooms changed, since
        body = (f'{{"event":"mention","bot":{dumps(bot.name)},"room":{dumps(m.room)},'
                f'"chat":{job.stored.text}}}').encode()
        outcome = Outcome(False)
        for attempt in range(1 if bot.id in self._failing else ATTEMPTS):
            if attempt:
                await asyncio.sleep(BACKOFF * 2 ** (attempt - 1))  # a pause before retrying, not a wait on state
            outcome = await self.attempt(bot.webhook_url, bot.webhook_secret, bot.name, body)
            if not outcome.retry:
                break
        error = outcome.error
        if outcome.delivered:
            self._failing.discard(bot.id)
            await self._record(bot.id, None)
        else:
            self._failing.add(bot.id)
        if outcome.delivered and outcome.reply:
            try:
                await post_as(self.app, bot, m.room, outcome.reply, reply_to=m.id)
            except Refused as refused:
                error = f"its reply was not posted: {refused.code} ({refused.detail})"
        if error is not None:
            if not outcome.delivered:
                log.warning("webhook of bot %s gave up on message #%d: %s", bot.name, m.id, error)
            await self._record(bot.id, error)

    async def attempt(self, url: str, secret: str, bot_name: str, body: bytes) -> Outcome:
        allow_private = self.app[SETTINGS].webhook_allow_private
        problem = url_problem(url, allow_private)
        if problem is not None:
            return Outcome(False, problem)
        assert self.session is not None
        timeout = self.app[SETTINGS].webhook_timeout
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": f"chatapp-webhook/{__version__}",
                   "X-Chatapp-Bot": bot_name, "X-Chatapp-Timestamp": stamp,
                   "X-Chatapp-Signature": sign(secret, stamp, body)}
        try:
            async with asyncio.timeout(timeout or None):
                async with self.session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                    if 300 <= resp.status < 400:
                        return Outcome(False, f"HTTP {resp.status}: redirects are not followed")
                    if resp.status >= 400:
                        retry = resp.status >= 500 or resp.status in RETRY_STATUSES
                        return Outcome(False, f"HTTP {resp.status} {resp.reason or ''}".strip(), retry)
                    return await _reply(resp)
        except TimeoutError:
            return Outcome(False, f"no answer within {timeout:g} s", True)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, WebhookRefused):
                return Outcome(False, str(exc.os_error))
            return Outcome(False, _short(f"could not connect: {exc.os_error}"), True)
        except aiohttp.InvalidURL as exc:
            return Outcome(False, _short(f"not a URL that can be called: {exc}"))
        except (aiohttp.ClientError, OSError) as exc:
            return Outcome(False, _short(f"{type(exc).__name__}: {exc}"), True)

    async def _record(self, bot_id: int, error: str | None) -> None:
        await self.app[STORE].record_delivery(bot_id, utc_now_iso(), None if error is None else _short(error))


async def _reply(resp: aiohttp.ClientResponse) -> Outcome:
    """A 2xx answer: its body, if it is a reply (text, or JSON with a "message")."""
    data = bytearray()
    async for chunk in resp.content.iter_chunked(8192):
        data += chunk
        if len(data) > MAX_REPLY:
            return Outcome(True, f"its reply was not posted: longer than {MAX_REPLY // 1024} KiB")
    if not data.strip() or resp.status == 204:
        return Outcome(True)
    if resp.content_type == "text/plain":
        try:
            return Outcome(True, reply=data.decode(resp.charset or "utf-8").rstrip())
        except (UnicodeDecodeError, LookupError):
            return Outcome(True, "its reply was not posted: not text in UTF-8 (or the charset it names)")
    if resp.content_type == "application/json":
        try:
            answer = orjson.loads(data)
        except orjson.JSONDecodeError:
            return Outcome(True, "its reply was not posted: not valid JSON")
        message = answer.get("message") if isinstance(answer, dict) else None
        if message is None:
            return Outcome(True)
        return Outcome(True, reply=message) if isinstance(message, str) else \
            Outcome(True, 'its reply was not posted: "message" must be a string')
    return Outcome(True)  # any other answer (an HTML page, say) is only an acknowledgement


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR - 1] + "…"


DISPATCHER = web.AppKey("webhook_dispatcher", Dispatcher)


async def dispatching(app: web.Application) -> AsyncIterator[None]:
    """The cleanup context: the HTTP client and the router task."""
    dispatcher = app[DISPATCHER]
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(app[SETTINGS].webhook_allow_private),
                                     use_dns_cache=False, limit=100)
    # No cookies: one receiver's cookie must not ride along to another's webhook.
    dispatcher.session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                               timeout=aiohttp.ClientTimeout(total=None))
    router = asyncio.create_task(dispatcher.route(), name="chatapp-webhook-router")
    try:
        yield
    finally:
        router.cancel()
        await asyncio.gather(router, return_exceptions=True)
        await dispatcher.close()
        await dispatcher.session.close()

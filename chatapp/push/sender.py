"""Delivering Web Push messages: one encrypted POST to a push service per subscription.

pywebpush encrypts (RFC 8291, ``aes128gcm``, in a thread: it is synchronous) and py_vapid
signs (RFC 8292, :mod:`.vapid`); the POST is ours, on an aiohttp client that resolves host
names only to public addresses (:class:`~chatapp.bots.guard.GuardedResolver`), never
follows a redirect (a redirect to ``http://127.0.0.1`` would slip past any check made on
the endpoint) and keeps no cookies. pywebpush's own senders follow redirects and resolve
names again after any check, so they are not used for the request itself.

At most :data:`IN_FLIGHT` deliveries run at once; :meth:`PushSender.send` waits for a slot,
so a slow push service holds back the notifier's bounded queue, not memory. A delivery is
tried up to :data:`ATTEMPTS` times within :data:`TIMEOUT` seconds each, with a growing
pause between: timeouts, connection errors, 5xx and 429 are tried again. 404 and 410 mean
the subscription is gone (the browser unsubscribed, or the push service expired it): it
is deleted. Anything else given up on counts against the subscription, which is deleted
after :data:`DROP_AFTER` in a row; a success sets the count back to 0.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from typing import NamedTuple

import aiohttp

from .. import __version__
from ..bots.guard import GuardedResolver, WebhookRefused
from ..models import utc_now_iso
from ..storage import Storage, StorageError
from ..storage.records import PushSubscription
from .subscriptions import endpoint_problem
from .vapid import LazyVapidKeys

log = logging.getLogger(__name__)

ATTEMPTS = 3
BACKOFF = 2.0  # seconds before the second attempt, doubled before each one after
TIMEOUT = 10.0  # seconds one attempt may take, connecting and answering included
IN_FLIGHT = 32  # deliveries running at once
DROP_AFTER = 5  # deliveries given up on in a row before a subscription is deleted
TTL = 24 * 3600  # seconds a push service keeps a message for a browser that is offline
GONE = frozenset({404, 410})
RETRY = frozenset({408, 425, 429})


class Push(NamedTuple):
    """One message for one subscription."""

    subscription: PushSubscription
    payload: bytes  # the JSON of .payload, before encryption
    urgent: bool  # a mention or a DM: "Urgency: high" (a phone wakes for it)
    topic: str  # per room: a push service holding messages for an offline browser keeps the last one


class Outcome(NamedTuple):
    status: int | None  # the push service's answer; None: none came
    error: str | None = None
    retry: bool = False


def topic(room: str) -> str:
    """The ``Topic`` header: at most 32 characters of the url-safe base64 alphabet (RFC 8030)."""
    return base64.urlsafe_b64encode(hashlib.sha256(room.encode("utf-8")).digest()).decode("ascii")[:32]


def encrypt(subscription: PushSubscription, payload: bytes) -> bytes:
    # Imported on the first push, not at start: pywebpush brings requests and urllib3
    # (~6 MiB), which a server whose members never turn notifications on never needs.
    from pywebpush import WebPusher

    pusher = WebPusher({"endpoint": subscription.endpoint,
                        "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}})
    body: bytes = pusher.encode(payload, "aes128gcm")["body"]
    return body


class PushSender:
    def __init__(self, store: Storage, keys: LazyVapidKeys, allow_private: bool) -> None:
        self.store = store
        self.keys = keys
        self.allow_private = allow_private
        self.backoff = BACKOFF
        self.delivered = 0  # since start: pushes a push service took
        self.failed = 0  # and pushes given up on
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        self._tasks: set[asyncio.Task[None]] = set()
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.allow_private), use_dns_cache=False,
                                         limit=IN_FLIGHT)
        self.session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                             timeout=aiohttp.ClientTimeout(total=None))

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()

    async def drained(self) -> None:
        """Wait until no delivery is running."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def send(self, push: Push) -> None:
        """Start delivering ``push`` once a slot is free (waits for one; never for the delivery)."""
        await self._slots.acquire()
        task = asyncio.create_task(self._deliver(push), name=f"chatapp-push-{push.subscription.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, push: Push) -> None:
        sub = push.subscription
        try:
            outcome = Outcome(None)
            for attempt in range(ATTEMPTS):
                if attempt:
                    await asyncio.sleep(self.backoff * 2 ** (attempt - 1))  # a pause before retrying
                outcome = await self.attempt(push)
                if not outcome.retry:
                    break
            await self._record(sub, outcome)
        except StorageError as exc:
            log.warning("push to subscription #%d: could not record the outcome: %s", sub.id, exc)
        except Exception:  # one bad delivery must not stop the others
            log.exception("push to subscription #%d failed", sub.id)
        finally:
            self._slots.release()

    async def attempt(self, push: Push) -> Outcome:
        sub = push.subscription
        problem = endpoint_problem(sub.endpoint, self.allow_private)
        if problem is not None:  # stored under an older, looser setting
            return Outcome(None, problem)
        assert self.session is not None
        # Outside the try: a key that cannot be loaded (a damaged key file) is the server's
        # problem, logged by _deliver, never counted against the subscription.
        keys = await self.keys.get()
        try:
            body = await asyncio.to_thread(encrypt, sub, push.payload)
            headers = {
                "Authorization": keys.authorization(sub.endpoint),
                "Content-Encoding": "aes128gcm",
                "Content-Type": "application/octet-stream",
                "TTL": str(TTL),
                "Urgency": "high" if push.urgent else "normal",
                "Topic": push.topic,
                "User-Agent": f"chatapp/{__version__}",
            }
            async with asyncio.timeout(TIMEOUT):
                async with self.session.post(sub.endpoint, data=body, headers=headers,
                                             allow_redirects=False) as resp:
                    if 200 <= resp.status < 300:
                        return Outcome(resp.status)
                    retry = resp.status >= 500 or resp.status in RETRY
                    return Outcome(resp.status, f"HTTP {resp.status} {resp.reason or ''}".strip(), retry)
        except TimeoutError:
            return Outcome(None, f"no answer within {TIMEOUT:g} s", True)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, WebhookRefused):
                return Outcome(None, "the endpoint's host resolves to a non-public address")
            return Outcome(None, f"could not connect: {exc.os_error}", True)
        except (aiohttp.ClientError, OSError) as exc:
            return Outcome(None, f"{type(exc).__name__}: {exc}", True)

    async def _record(self, sub: PushSubscription, outcome: Outcome) -> None:
        if outcome.error is None:
            self.delivered += 1
            await self.store.push_delivered(sub.id, utc_now_iso())
            return
        self.failed += 1
        if outcome.status in GONE:
            log.info("push subscription #%d of member #%d is gone (HTTP %d): deleted",
                     sub.id, sub.member_id, outcome.status)
            await self.store.drop_push_subscription(sub.id)
        elif await self.store.push_failed(sub.id, DROP_AFTER):
            log.warning("push subscription #%d of member #%d deleted after %d failed deliveries; last: %s",
                        sub.id, sub.member_id, DROP_AFTER, outcome.error)
        else:
            log.warning("push to subscription #%d of member #%d given up: %s", sub.id, sub.member_id, outcome.error)

"""Login throttling: wrong passwords from one address are answered ever more slowly.

One :class:`LoginThrottle` per app (under :data:`LOGIN_THROTTLE`), shared by every login
form, so guesses at the operator's password and (with the accounts issue) at members'
count against the same address. A form asks :meth:`~LoginThrottle.retry_after` before it
even checks a password, and reports the outcome with :meth:`~LoginThrottle.failed` or
:meth:`~LoginThrottle.succeeded`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

# This many wrong passwords are free; after that each one doubles the wait.
FREE_ATTEMPTS = 5
MAX_DELAY = 300.0
FORGET_AFTER = 3600.0  # an address quiet this long starts afresh
MAX_TRACKED = 10_000  # addresses remembered at once, so a spray cannot grow memory


class LoginThrottle:
    """Per-key failure counts (a client address); a key past its free attempts must wait, doubling."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}

    def retry_after(self, key: str) -> float:
        """Seconds ``key`` must still wait before its next attempt is even checked; 0 if none."""
        entry = self._failures.get(key)
        if entry is None:
            return 0.0
        failures, last = entry
        now = self.clock()
        if now - last > FORGET_AFTER:
            del self._failures[key]
            return 0.0
        if failures < FREE_ATTEMPTS:
            return 0.0
        delay = min(MAX_DELAY, 2.0 ** (failures - FREE_ATTEMPTS))
        return max(0.0, last + delay - now)

    def failed(self, key: str) -> int:
        """Count a wrong password; how many in a row ``key`` has now."""
        now = self.clock()
        failures, last = self._failures.get(key, (0, now))
        if now - last > FORGET_AFTER:
            failures = 0
        self._failures[key] = (failures + 1, now)
        if len(self._failures) > MAX_TRACKED:
            self._prune(now)
        return failures + 1

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        for key, (_, last) in list(self._failures.items()):
            if now - last > FORGET_AFTER:
                del self._failures[key]
        # Still too many: forget the keys that failed longest ago.
        excess = len(self._failures) - MAX_TRACKED
        if excess > 0:
            for key, _ in sorted(self._failures.items(), key=lambda kv: kv[1][1])[:excess]:
                del self._failures[key]


LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)

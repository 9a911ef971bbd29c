"""Passwords: argon2id through argon2-cffi, never anything of our own.

Hashing takes tens of milliseconds of CPU and 64 MiB of memory by design, so it runs in a
thread and never on the event loop. A hash made with older parameters is replaced at the
next successful login (:meth:`Passwords.verify` says so), so raising the cost reaches every
account that is still used.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 takes any length; this bounds the work one form post can ask for

# Checked against when a name has no account, so "no such member" and "wrong password"
# take the same time and a login form cannot be used to list members.
_DUMMY_PASSWORD = "not anyone's password"


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be used, in plain words; None when it can."""
    if len(password) < MIN_PASSWORD:
        return f"A password needs at least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"A password is at most {MAX_PASSWORD} characters."
    return None


class Passwords:
    """Hashing and checking passwords with one set of argon2id parameters."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()  # argon2id, RFC 9106's low-memory profile
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> tuple[bool, bool]:
        """Whether ``password`` matches ``stored`` (None: no such account, still checked
        against a dummy hash), and whether a match should be hashed again."""
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash(_DUMMY_PASSWORD)
            stored = self._dummy
            await asyncio.to_thread(self._check, stored, password)
            return False, False
        ok = await asyncio.to_thread(self._check, stored, password)
        return ok, ok and self.hasher.check_needs_rehash(stored)

    def _check(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

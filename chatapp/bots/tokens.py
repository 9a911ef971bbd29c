"""Bot tokens: made, hashed and checked.

A token is ``cab_<bot id>_<secret>``: the id says which bot to look up (one indexed read),
the secret is 32 random bytes, of which only the SHA-256 is stored. A fast hash is enough
for a secret nobody can guess, and the stored hash is compared with the presented one in
constant time. The prefix lets secret scanners and people recognise a leaked token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import NamedTuple

PREFIX = "cab"
SECRET_BYTES = 32
MAX_TOKEN = 128  # far above a real token's length; anything longer is not looked up


class Token(NamedTuple):
    bot_id: int
    secret: str


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def token_for(bot_id: int, secret: str) -> str:
    return f"{PREFIX}_{bot_id}_{secret}"


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse(token: str) -> Token | None:
    """The parts of a well-formed token, or None."""
    if len(token) > MAX_TOKEN or not token.isascii():
        return None
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1].isdigit() or len(parts[1]) > 18 or not parts[2]:
        return None
    return Token(int(parts[1]), parts[2])


def matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(secret_hash(secret).encode("ascii"), stored_hash.encode("ascii"))


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()

"""How a setting's text becomes a value: each parser returns a checked value or raises
``ValueError`` saying what it expected, which :func:`chatapp.settings.load` turns into a
one-line :class:`~chatapp.settings.SettingError` naming the variable or flag.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from urllib.parse import urlsplit


def whole(low: int, high: int | None = None) -> Callable[[str], int]:
    expected = f"a whole number from {low} to {high}" if high is not None else f"a whole number, {low} or more"

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"expected {expected}") from None
        if number < low or (high is not None and number > high):
            raise ValueError(f"expected {expected}")
        return number
    return parse


def at_least_zero(unit: str) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"expected a number of {unit}, 0 or more")
        return number
    return parse


seconds = at_least_zero("seconds")


def _choice(fold: Callable[[str], str], choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        folded = fold(value.strip())
        if folded not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return folded
    return parse


def one_of(*choices: str) -> Callable[[str], str]:
    """One of ``choices`` (upper case), in any case."""
    return _choice(str.upper, choices)


def lower_choice(*choices: str) -> Callable[[str], str]:
    """One of ``choices`` (lower case), in any case."""
    return _choice(str.lower, choices)


def switch(value: str) -> bool:
    if value.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if value.strip().lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected true or false (or 1/0, yes/no, on/off)")


def origin(value: str) -> str:
    """``scheme://host[:port]`` in lower case, as browsers send it in ``Origin``; empty stays empty."""
    text = value.strip().rstrip("/").lower()
    if not text:
        return ""
    try:
        parts = urlsplit(text)
        valid = (parts.scheme in ("http", "https") and bool(parts.hostname) and "@" not in parts.netloc
                 and not (parts.path or parts.query or parts.fragment)
                 and (parts.port is None or parts.port > 0))  # .port raises ValueError when not a number
    except ValueError:
        valid = False
    if not valid:
        raise ValueError("expected an origin such as https://chat.example.org, without a path")
    return text


def origins(value: str) -> tuple[str, ...]:
    return tuple(origin(o) for o in value.split(",") if o.strip())


def addresses(value: str) -> tuple[str, ...]:
    # Written the way the socket reports a peer, so the comparison with it is exact.
    try:
        return tuple(str(ipaddress.ip_address(a.strip())) for a in value.split(",") if a.strip())
    except ValueError:
        raise ValueError("expected IP addresses separated by commas (no names, no networks)") from None


def host_names(value: str) -> tuple[str, ...]:
    names = tuple(n.strip().lower().rstrip(".") for n in value.split(",") if n.strip())
    for name in names:
        if not all(part and all(c.isalnum() or c == "-" for c in part) for part in name.split(".")):
            raise ValueError(f"expected host names separated by commas, like chat.example.org (not {name!r})")
    return names


def contact(value: str) -> str:
    """A VAPID subject: ``mailto:someone@host`` or an ``https://`` URL; empty stays empty."""
    contact = value.strip()
    if contact and not ((contact.startswith("mailto:") and "@" in contact[7:])
                        or (contact.startswith("https://") and len(contact) > 8)):
        raise ValueError("expected a mailto: address or an https:// URL, like mailto:admin@example.org")
    return contact


def postgres_url(value: str) -> str:
    url = value.strip()
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise ValueError("expected a postgresql:// URL, like postgresql://chatapp@127.0.0.1:5432/chatapp")
    return url


def redis_server_url(value: str) -> str:
    url = value.strip()
    if url and urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("expected a redis://, rediss:// or unix:// URL, like redis://127.0.0.1:6379/0")
    return url

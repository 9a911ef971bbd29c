"""Where a webhook may point: http(s) to public addresses only, against server-side request
forgery (a webhook aimed at ``127.0.0.1:6379``, a cloud metadata address or the office LAN
would otherwise let whoever sets it make the server talk to them).

- :func:`url_problem` checks a URL as written: its scheme, that it has a host, and, when
  the host is an IP address, that address.
- :class:`GuardedResolver` is the webhook client's DNS resolver: it resolves a host name
  and refuses the whole answer if any address in it is not public. aiohttp then connects
  only to the addresses it returned, the ones just checked, so a name that resolves to a
  public address when checked and to ``127.0.0.1`` a moment later (DNS rebinding) gains
  nothing: there is no second lookup. aiohttp does not ask the resolver about IP
  literals, which is why :func:`url_problem` checks those itself before every delivery.

``CHATAPP_WEBHOOK_ALLOW_PRIVATE`` turns the address checks off (a webhook on the same
machine or LAN); the scheme check stays.
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

MAX_URL = 2000

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookRefused(OSError):
    """The webhook's address is not one chatapp may call; the message says why."""


def address_problem(ip: IPAddress) -> str | None:
    """What kind of non-public address ``ip`` is, or None if it is a public one."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return address_problem(ip.ipv4_mapped)  # ::ffff:127.0.0.1 is 127.0.0.1
    for kind, hit in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                      ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                      ("private", ip.is_private), ("reserved", ip.is_reserved)):
        if hit:
            return kind
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    if not ip.is_global:  # shared (100.64/10), documentation ranges and the like
        return "non-public"
    return None


def _a(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def url_problem(url: str, allow_private: bool) -> str | None:
    """Why ``url`` cannot be a webhook, as a sentence; None when it may be (as far as can be
    told without resolving its host: :class:`GuardedResolver` does the rest)."""
    if len(url) > MAX_URL:
        return f"The URL is longer than {MAX_URL} characters."
    try:
        parsed = URL(url)
    except ValueError:
        return "That is not a URL."
    if parsed.scheme not in ("http", "https"):
        return "A webhook URL must start with http:// or https://."
    host = parsed.host
    if not host:
        return "A webhook URL must name a host."
    ip = _literal(host)
    if ip is not None and not allow_private:
        kind = address_problem(ip)
        if kind is not None:
            return f"{host} is {_a(kind)} address: webhooks may only call public addresses."
    return None


class GuardedResolver(AbstractResolver):
    """A resolver that answers only with public addresses (unless ``allow_private``)."""

    def __init__(self, allow_private: bool = False) -> None:
        self.allow_private = allow_private
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if not self.allow_private:
            for entry in found:
                ip = _literal(entry["host"].split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) is link-local
                kind = "unknown" if ip is None else address_problem(ip)
                if kind is not None:
                    raise WebhookRefused(f"{host} resolves to {entry['host']}, {_a(kind)} address: "
                                         "webhooks may only call public addresses.")
        return found

    async def close(self) -> None:
        await self._inner.close()


async def resolve_problem(url: str, allow_private: bool) -> str | None:
    """:func:`url_problem`, then whether the host resolves to public addresses now (a later
    delivery checks again; a name that does not resolve yet is let through)."""
    problem = url_problem(url, allow_private)
    host = URL(url).host if problem is None else None
    if problem is not None or allow_private or host is None or _literal(host) is not None:
        return problem
    resolver = GuardedResolver(allow_private)
    try:
        await resolver.resolve(host, 0, socket.AF_UNSPEC)
    except WebhookRefused as exc:
        return str(exc)
    except OSError:
        return None
    finally:
        await resolver.close()
    return None

"""``next=`` after a login goes to a page on this site and nowhere else, whatever it holds.

Each payload goes through the real app three ways: the login form's hidden field, the
redirect of an operator who is already logged in, and the query of the login page. The
``Location`` must be a path on this site as a browser reads it, nothing may answer 500,
and nothing may be logged as a traceback.
"""

from __future__ import annotations

import logging
import string
import urllib.parse
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from chatapp.keys import STORE
from chatapp.redirects import safe_next

from .admin_client import PASSWORD, login, post, token_in

Client = TestClient[Any, Any]

HOSTILE = [
    "/\t/evil.example/",  # the issue's: sent as next=/%09/evil.example/
    "/\n/evil.example/",
    "/\r/evil.example/",
    "/\x0b/evil.example/",  # dropped the connection with a ValueError
    "\n//evil.example/",
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "\\/evil.example",
    " //evil.example",
    "\x00//evil.example",
    "//evil.example\x1f",
    "https:evil.example",
    "https://evil.example/",
    "HTTPS://evil.example/",
    "http:/evil.example",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "%2F%2Fevil.example",
    "/%2F/evil.example",
    "/%5Cevil.example",
    "/%09/evil.example",
    "/..//evil.example",
    "/admin/../..//evil.example",
    "\uff0f\uff0fevil.example",  # fullwidth solidus
    "\u3000//evil.example",  # ideographic space: not stripped, so not a path
    "/\u2215\u2215evil.example",  # division slash: a local path, percent-encoded
    "/\u202e/elpmaxe.live",  # right-to-left override
    "/adm\x00in",
    "/admin\x85",
    "/" + "a" * 5000,
]

KEPT = ["/admin/audit", "/admin/rooms/lobby?before=5", "/api/rooms/lobby/export", "/admin?x=//evil.example"]

_BROWSER_DROPS = str.maketrans("", "", "\t\n\r")


def lands_on_this_site(location: str) -> bool:
    """True when a browser following ``location`` from our login page stays on our host."""
    if not location.isascii() or not location.isprintable():  # no control characters either
        return False
    if not location.startswith("/") or location.startswith("//"):
        return False
    read = location.translate(_BROWSER_DROPS).strip(string.whitespace).replace("\\", "/")
    resolved = urllib.parse.urlsplit(urllib.parse.urljoin("http://chat.test/admin/login", read))
    return resolved.scheme == "http" and resolved.netloc == "chat.test"


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.INFO)
    yield
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


@pytest.mark.parametrize("bad", HOSTILE)
async def test_a_login_never_sends_the_browser_off_site(client: Client, bad: str) -> None:
    token = token_in(await (await client.get("/admin/login")).text())
    resp = await post(client, "/admin/login", token, password=PASSWORD, next=bad)
    assert resp.status == 303
    assert lands_on_this_site(resp.headers["Location"]), resp.headers["Location"]
    entries, _ = await client.server.app[STORE].audit_entries(None, 10)
    assert [e.action for e in entries] == ["login"]


@pytest.mark.parametrize("bad", HOSTILE)
async def test_a_logged_in_operator_is_never_sent_off_site(client: Client, bad: str) -> None:
    await login(client)
    resp = await client.get("/admin/login", params={"next": bad}, allow_redirects=False)
    assert resp.status == 302
    assert lands_on_this_site(resp.headers["Location"]), resp.headers["Location"]


@pytest.mark.parametrize("bad", HOSTILE)
async def test_the_login_form_carries_only_a_local_next(client: Client, bad: str) -> None:
    resp = await client.get("/admin/login", params={"next": bad})
    assert resp.status == 200
    html = await resp.text()
    value = html.split('name="next" value="', 1)[1].split('"', 1)[0]
    assert lands_on_this_site(value), value


async def test_the_issues_tab_payload_in_the_raw_query_goes_to_the_admin_home(client: Client) -> None:
    await login(client)
    raw = URL("/admin/login?next=/%09/evil.example/", encoded=True)
    resp = await client.get(raw, allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "/admin"


@pytest.mark.parametrize("good", KEPT)
async def test_a_local_next_is_kept_as_it_was(client: Client, good: str) -> None:
    token = token_in(await (await client.get("/admin/login")).text())
    resp = await post(client, "/admin/login", token, password=PASSWORD, next=good)
    assert resp.headers["Location"] == good


def test_non_ascii_in_a_local_path_is_percent_encoded_not_dropped() -> None:
    assert safe_next("/search?q=café") == "/search?q=caf%C3%A9"
    assert safe_next("/\u2215x") == "/%E2%88%95x"


def test_the_fallback_is_the_callers_choice() -> None:
    assert safe_next("//evil.example", default="/") == "/"
    assert safe_next(None, default="/rooms/lobby") == "/rooms/lobby"

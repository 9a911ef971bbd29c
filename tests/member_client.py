"""Driving the account pages as a browser would: signing up, logging in, posting forms
with the page's CSRF token."""

from __future__ import annotations

from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from .admin_client import token_in

Client = TestClient[Any, Any]
PASSWORD = "a long enough password"


async def form_token(client: Client, path: str) -> str:
    page = await client.get(path)
    return token_in(await page.text())


async def submit(client: Client, path: str, *, token_from: str | None = None, **data: str) -> ClientResponse:
    """POST ``data`` to ``path`` with the CSRF token of the page at ``token_from`` (default: ``path``)."""
    data["csrf_token"] = await form_token(client, token_from or path)
    return await client.post(path, data=data, allow_redirects=False)


async def sign_up(client: Client, name: str, password: str = PASSWORD, path: str = "/signup") -> ClientResponse:
    response = await submit(client, path, name=name, password=password)
    assert response.status == 303, await response.text()
    return response


async def log_in(client: Client, name: str, password: str = PASSWORD) -> ClientResponse:
    return await submit(client, "/login", name=name, password=password)


async def fresh_browser(client: Client, aiohttp_client: Any) -> Client:
    """Another browser on the same server, with a cookie jar of its own."""
    other: Client = await aiohttp_client(client.server)
    return other

"""Getting into the admin, through the real app: the login, the session cookie, forged
requests, and the one gate of the admin sub-application (no-store, security headers)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from chatapp.admin import ADMIN_APP, OPERATOR_PASSWORD
from chatapp.admin import overview as overview_module
from chatapp.app import create_app
from chatapp.keys import WRITER
from chatapp.sessions import COOKIE_NAME
from chatapp.settings import Settings
from chatapp.throttle import FREE_ATTEMPTS, LOGIN_THROTTLE

from .admin_client import PASSWORD, Client, WsConnect, history, login, post, say, token_in
from .conftest import MakeClient


async def test_admin_pages_send_a_visitor_who_is_not_logged_in_to_the_login_page(client: Client) -> None:
    for path in ("/admin", "/admin/rooms/lobby", "/admin/audit"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 302, path
        assert resp.headers["Location"].startswith("/admin/login?next=")
    page = await client.get("/admin/rooms/lobby")  # following the redirect
    assert page.url.path == "/admin/login"
    assert 'name="password"' in await page.text()
    assert 'value="/admin/rooms/lobby"' in await page.text()


async def test_admin_posts_from_a_visitor_who_is_not_logged_in_are_refused(
        client: Client, ws_connect: WsConnect) -> None:
    ws = await ws_connect("lobby")
    sent = await say(ws, "still here")
    # A token from the login page is a real token, just not an operator's.
    token = token_in(await (await client.get("/admin/login")).text())
    for action in ("lock", "clear", "delete", "retention"):
        resp = await post(client, f"/admin/rooms/lobby/{action}", token, keep="forever")
        assert resp.status == 403, action
    resp = await post(client, f"/admin/rooms/lobby/messages/{sent['id']}/delete", token)
    assert resp.status == 403
    assert (await post(client, "/admin/logout", token)).status == 403
    assert [m["id"] for m in await history(client, "lobby")] == [sent["id"]]
    assert not client.server.app[WRITER].rooms.is_locked("lobby")


async def test_a_wrong_password_is_refused_and_does_not_log_in(client: Client) -> None:
    page = await client.get("/admin/login")
    resp = await post(client, "/admin/login", token_in(await page.text()), password="hunter2")
    assert resp.status == 401
    assert "not right" in await resp.text()
    assert (await client.get("/admin", allow_redirects=False)).status == 302


async def test_repeated_wrong_passwords_from_one_address_are_slowed_down(client: Client) -> None:
    now = [1000.0]
    client.server.app[LOGIN_THROTTLE].clock = lambda: now[0]
    token = token_in(await (await client.get("/admin/login")).text())
    for _ in range(FREE_ATTEMPTS):
        assert (await post(client, "/admin/login", token, password="guess")).status == 401
    # Past the free attempts even the right password waits: it is not even checked.
    resp = await post(client, "/admin/login", token, password=PASSWORD)
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) >= 1
    assert (await client.get("/admin", allow_redirects=False)).status == 302
    now[0] += 1.5
    assert (await post(client, "/admin/login", token, password="guess")).status == 401
    now[0] += 1.5  # the wait doubled: 2 s after that failure
    assert (await post(client, "/admin/login", token, password=PASSWORD)).status == 429
    now[0] += 1.0
    assert (await post(client, "/admin/login", token, password=PASSWORD)).status == 303


async def test_the_session_cookie_is_http_only_same_site_strict_and_not_secure_over_http(
        client: Client) -> None:
    page = await client.get("/admin/login")
    resp = await post(client, "/admin/login", token_in(await page.text()), password=PASSWORD)
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(COOKIE_NAME + "=")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Secure" not in cookie
    assert PASSWORD not in cookie and "admin" not in cookie.split(";")[0].split("=", 1)[1]


@pytest.mark.parametrize("setting", [{"secure_cookies": True},
                                     {"public_origin": "https://chat.example.org"}])
async def test_the_session_cookie_is_secure_behind_a_tls_proxy(make_client: MakeClient,
                                                               setting: dict[str, Any]) -> None:
    client = await make_client(**setting)
    page = await client.get("/admin/login")
    assert "; Secure" in page.headers["Set-Cookie"]


async def test_a_login_post_without_the_csrf_token_is_refused(client: Client) -> None:
    await client.get("/admin/login")
    resp = await post(client, "/admin/login", None, password=PASSWORD)
    assert resp.status == 403
    assert (await client.get("/admin", allow_redirects=False)).status == 302


async def test_an_operator_post_without_the_csrf_token_or_with_a_wrong_one_is_refused(
        client: Client) -> None:
    await login(client)
    assert (await post(client, "/admin/rooms/lobby/lock", None)).status == 403
    assert (await post(client, "/admin/rooms/lobby/lock", "not-the-token")).status == 403
    assert not client.server.app[WRITER].rooms.is_locked("lobby")


async def test_an_operator_post_from_another_site_is_refused_even_with_the_token(client: Client) -> None:
    token = await login(client)
    evil = await post(client, "/admin/rooms/lobby/lock", token, headers={"Origin": "https://evil.example"})
    assert evil.status == 403
    cross = await post(client, "/admin/rooms/lobby/lock", token, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status == 403
    null = await post(client, "/admin/rooms/lobby/lock", token, headers={"Origin": "null"})
    assert null.status == 403
    assert not client.server.app[WRITER].rooms.is_locked("lobby")
    own = f"http://{client.server.host}:{client.server.port}"
    ok = await post(client, "/admin/rooms/lobby/lock", token,
                    headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})
    assert ok.status == 303
    assert client.server.app[WRITER].rooms.is_locked("lobby")


async def test_a_login_form_posted_from_another_site_is_refused(client: Client) -> None:
    token = token_in(await (await client.get("/admin/login")).text())
    resp = await post(client, "/admin/login", token, headers={"Origin": "https://evil.example"},
                      password=PASSWORD)
    assert resp.status == 403


async def test_logging_in_goes_back_to_the_page_asked_for_but_never_off_site(client: Client) -> None:
    token = token_in(await (await client.get("/admin/login?next=/admin/audit")).text())
    resp = await post(client, "/admin/login", token, password=PASSWORD, next="/admin/audit")
    assert resp.headers["Location"] == "/admin/audit"
    await post(client, "/admin/logout", token_in(await (await client.get("/admin")).text()))
    for bad in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        token = token_in(await (await client.get("/admin/login")).text())
        resp = await post(client, "/admin/login", token, password=PASSWORD, next=bad)
        assert resp.headers["Location"] == "/admin", bad
        await post(client, "/admin/logout", token_in(await (await client.get("/admin")).text()))


async def test_logging_out_ends_the_session(client: Client) -> None:
    token = await login(client)
    resp = await post(client, "/admin/logout", token)
    assert resp.status == 303
    assert resp.headers["Location"] == "/admin/login"
    assert (await client.get("/admin", allow_redirects=False)).status == 302


async def test_without_a_configured_password_one_is_generated_and_logged_once(
        make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chatapp.admin.login")
    client = await make_client(admin_password="")
    generated = client.server.app[ADMIN_APP][OPERATOR_PASSWORD].password
    assert len(generated) >= 24
    warnings = [r for r in caplog.records if generated in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    await login(client, generated)
    assert (await client.get("/admin", allow_redirects=False)).status == 200


async def test_the_session_survives_a_restart_on_the_same_database(
        make_client: MakeClient, settings: Settings) -> None:
    first = await make_client()
    await login(first)
    cookie = next(c.value for c in first.session.cookie_jar if c.key == COOKIE_NAME)
    await first.close()
    secret = Path(settings.db + ".secret")
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    second = await make_client()
    resp = await second.get("/admin", headers={"Cookie": f"{COOKIE_NAME}={cookie}"},
                            allow_redirects=False)
    assert resp.status == 200


async def test_with_a_configured_secret_no_key_file_is_written(make_client: MakeClient,
                                                                 settings: Settings) -> None:
    client = await make_client(secret="aSfi1u6sN0vI6g1j2TSu6u7f4Yyt5Q0l7bX8mW1dRkE=")
    await login(client)
    assert not Path(settings.db + ".secret").exists()


def test_a_malformed_secret_stops_the_app_from_being_built(settings: Settings) -> None:
    with pytest.raises(SystemExit, match="CHATAPP_SECRET"):
        create_app(settings.replace(secret="too-short"))


async def test_admin_responses_are_never_cached(client: Client) -> None:
    responses = [await client.get("/admin", allow_redirects=False),
                 await client.get("/admin/login")]
    responses.append(await post(client, "/admin/rooms/lobby/lock", None))  # refused
    token = await login(client)
    responses += [
        await client.get("/admin"),
        await client.get("/admin/api/rooms"),
        await client.get("/admin/rooms/lobby"),
        await client.get("/admin/audit"),
        await post(client, "/admin/rooms/lobby/lock", token),
    ]
    for resp in responses:
        assert resp.headers.get("Cache-Control") == "no-store", (resp.method, resp.url, resp.status)


async def test_the_rooms_api_answers_401_when_the_session_has_ended(client: Client) -> None:
    resp = await client.get("/admin/api/rooms")
    assert resp.status == 401
    assert (await resp.json())["error"] == "login_required"


async def test_other_methods_from_a_visitor_who_is_not_logged_in_are_refused(client: Client) -> None:
    for method, path in [("PUT", "/admin"), ("DELETE", "/admin/rooms/lobby"), ("POST", "/admin/nowhere"),
                         ("PATCH", "/admin/api/rooms")]:
        resp = await client.request(method, path, allow_redirects=False)
        assert resp.status == 403, (method, path)
        assert resp.headers["Cache-Control"] == "no-store"


async def test_admin_pages_carry_the_apps_security_headers_and_no_store(client: Client) -> None:
    token = await login(client)
    responses = [
        await client.get("/admin"),
        await client.get("/admin/nowhere"),  # the app's 404 page, rendered for the admin
        await client.get("/admin/", allow_redirects=False),
        await post(client, "/admin/rooms/lobby/lock", "not-the-token"),
        await post(client, "/admin/rooms/lobby/retention", token, keep="days", days="²"),
        await client.get("/admin/rooms/lobby", params={"before": "²"}),
        await client.get("/admin/audit", params={"before": "١٢"}),  # Arabic-Indic digits
    ]
    assert [r.status for r in responses] == [200, 404, 302, 403, 400, 400, 400]
    for resp in responses:
        assert resp.headers["Cache-Control"] == "no-store", resp.url
        assert resp.headers["X-Content-Type-Options"] == "nosniff", resp.url
        if resp.content_type == "text/html":
            assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"], resp.url
            assert resp.headers["X-Frame-Options"] == "DENY", resp.url
    assert "Not found" in await responses[1].text()
    assert responses[2].headers["Location"] == "/admin"


async def test_a_failing_admin_page_is_logged_and_answered_500_without_caching(
        client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    await login(client)

    async def broken(request: Any) -> dict[str, Any]:
        raise RuntimeError("the figures are gone")

    monkeypatch.setattr(overview_module, "overview", broken)
    resp = await client.get("/admin")
    assert resp.status == 500
    assert resp.headers["Cache-Control"] == "no-store"
    assert "It was logged" in await resp.text()
    assert any(r.exc_info and "the figures are gone" in str(r.exc_info[1]) for r in caplog.records)


async def test_admin_pages_link_to_routes_of_both_the_admin_and_the_main_app(
        client: Client, ws_connect: WsConnect) -> None:
    await login(client)
    await say(await ws_connect("lobby"), "hello")
    html = await (await client.get("/admin/rooms/lobby")).text()
    assert 'href="/rooms/lobby"' in html  # the main app's route
    assert 'action="/admin/rooms/lobby/lock"' in html and 'href="/admin"' in html  # the admin's
    assert 'href="/"' in html and 'action="/search"' in html  # the shared frame's

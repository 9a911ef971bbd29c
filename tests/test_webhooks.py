"""Webhooks through the real app, delivered to a real local HTTP server on a free port: signed
mentions, replies posted back live, hanging and failing webhooks that never hold a room up,
redirects left unfollowed, and the addresses a webhook may not call."""

from __future__ import annotations

import asyncio
import html
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web

from chatapp.bots import webhooks
from chatapp.settings import Settings

from .admin_client import login, post, say
from .conftest import recv_chats
from .member_client import Client, fresh_browser, sign_up, submit
from .server import free_port
from .test_bots import _TOKEN, bot_post, run_cli, webhook_secret
from .webhook_receiver import Delivery, Receiver, verify

TIMEOUT = 5.0


@pytest.fixture
async def receiver(aiohttp_server: Any) -> AsyncIterator[Receiver]:
    r = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/{kind}", r.handle)
    r.server = await aiohttp_server(app)
    yield r
    r.release.set()  # before the server stops: it would wait for a hanging answer


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks, "BACKOFF", 0.01)


async def hooked_client(make_client: Any, **overrides: Any) -> Client:
    client: Client = await make_client(**{"webhook_allow_private": True, **overrides})
    return client


async def make_hooked_bot(client: Client, csrf: str, name: str, url: str, rooms: str = "") -> tuple[str, str]:
    """Make a bot with a webhook on /admin/bots; its token and signing secret."""
    response = await post(client, "/admin/bots", csrf, name=name, rooms=rooms, webhook=url)
    page = await response.text()
    assert response.status == 200, page
    token = _TOKEN.search(page)
    assert token, page
    return html.unescape(token.group(1)), webhook_secret(page)


_BOT_BLOCK = re.compile(r'<li class="bot" data-bot="([^"]+)".*?</li>', re.S)


async def bot_health(client: Client, name: str) -> tuple[int, str | None, bool]:
    """The bot's failures, last error and whether a delivery was ever taken, as /admin/bots shows them."""
    page = await (await client.get("/admin/bots")).text()
    for block in _BOT_BLOCK.finditer(page):
        if block.group(1) == name:
            failures = int(re.search(r'data-failures="(\d+)"', block.group(0)).group(1))  # type: ignore[union-attr]
            error = re.search(r'class="bot-error"><time[^>]*>[^<]*</time>: (.*?)</dd>', block.group(0), re.S)
            delivered = "Last delivered</dt><dd><time" in block.group(0)
            return failures, html.unescape(error.group(1)) if error else None, delivered
    raise AssertionError(f"no bot {name} on the page")


async def failed(client: Client, name: str, failures: int = 1) -> str:
    """Wait until the admin page shows the bot's ``failures``; its last error."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            count, error, _ = await bot_health(client, name)
            if count >= failures:
                assert count == failures and error is not None
                return error
            await asyncio.sleep(0.02)  # polling the admin's page, as the admin would


# ---- delivery and replies ----

async def test_a_mention_is_delivered_signed_and_the_text_reply_shows_in_the_room_live(
        make_client: Any, receiver: Receiver) -> None:
    client = await hooked_client(make_client)
    token, secret = await make_hooked_bot(client, await login(client), "deploy", receiver.url("text"))
    assert token.startswith("cab_")
    ws = await client.ws_connect("/ws/ops", params={"user": "alice"})
    asked = await say(ws, "@deploy ship build 42, please")
    delivery = await receiver.next()
    assert verify(secret, delivery)
    assert delivery.headers["X-Chatapp-Bot"] == "deploy"
    assert delivery.headers["Content-Type"] == "application/json"
    event = delivery.event
    assert (event["event"], event["bot"], event["room"]) == ("mention", "deploy", "ops")
    assert event["chat"]["id"] == asked["id"] and event["chat"]["message"] == "@deploy ship build 42, please"
    (reply,) = await recv_chats(ws, 1)
    assert (reply["user"], reply["bot"], reply["message"]) == ("deploy", True, "on it, alice")
    assert reply["reply_to"] == asked["id"] and reply["reply"]["user"] == "alice"
    assert await bot_health(client, "deploy") == (0, None, True)
    tampered = Delivery(delivery.kind, delivery.headers, delivery.body.replace(b"42", b"43"))
    assert not verify(secret, tampered)


async def test_a_json_reply_is_posted_and_an_empty_answer_posts_nothing(
        make_client: Any, receiver: Receiver) -> None:
    client = await hooked_client(make_client)
    await make_hooked_bot(client, await login(client), "helper", receiver.url("scripted"))
    receiver.script = [web.Response(status=204), web.json_response({"message": "**done**"})]
    ws = await client.ws_connect("/ws/lobby", params={"user": "alice"})
    first = await say(ws, "thanks @helper")
    second = await say(ws, "@helper again")
    assert (await receiver.next()).event["chat"]["id"] == first["id"]
    assert (await receiver.next()).event["chat"]["id"] == second["id"]
    # One bot's deliveries go one after another: had the 204 posted anything, it would come first.
    (reply,) = await recv_chats(ws, 1)
    assert (reply["message"], reply["reply_to"], reply["bot"]) == ("**done**", second["id"], True)


async def test_bots_own_messages_other_bots_and_non_mentions_do_not_call_the_webhook(
        make_client: Any, receiver: Receiver) -> None:
    client = await hooked_client(make_client)
    csrf = await login(client)
    token, _ = await make_hooked_bot(client, csrf, "deploy", receiver.url("quiet"))
    other, _ = await make_hooked_bot(client, csrf, "other", receiver.url("quiet"))
    ws = await client.ws_connect("/ws/lobby", params={"user": "alice"})
    assert (await bot_post(client, "lobby", token, {"message": "@deploy talking to myself"})).status == 201
    assert (await bot_post(client, "lobby", other, {"message": "@deploy from another bot"})).status == 201
    for text in ("deploy without an at", "mail me at ops@deploy", "@deployment is not @deploy-bot"):
        await say(ws, text)
    await recv_chats(ws, 2)
    wanted = await say(ws, "now @DEPLOY, twice: @deploy")
    delivery = await receiver.next()
    assert delivery.event["chat"]["id"] == wanted["id"] and delivery.event["bot"] == "deploy"
    assert receiver.got.empty()  # one delivery for a message that mentions the bot twice


async def test_a_bot_hears_mentions_only_in_rooms_it_may_use(
        make_client: Any, receiver: Receiver, aiohttp_client: Any) -> None:
    client = await hooked_client(make_client)
    await sign_up(client, "alice")
    await submit(client, "/private/new", room="secret")
    operator = await fresh_browser(client, aiohttp_client)
    await make_hooked_bot(operator, await login(operator), "deploy", receiver.url("quiet"), rooms="ops")
    await make_hooked_bot(operator, await login(operator), "roamer", receiver.url("quiet"))
    private = await client.ws_connect("/ws/secret")
    await say(private, "@deploy @roamer in a private room none of them is in")
    lobby = await operator.ws_connect("/ws/lobby", params={"user": "bob"})
    await say(lobby, "@deploy in the lobby")
    ops = await operator.ws_connect("/ws/ops", params={"user": "bob"})
    wanted = await say(ops, "@deploy in ops")
    delivery = await receiver.next()
    assert (delivery.event["bot"], delivery.event["chat"]["id"]) == ("deploy", wanted["id"])


# ---- webhooks that fail ----

async def test_a_failing_webhook_is_retried_then_given_up_while_the_room_keeps_flowing(
        make_client: Any, receiver: Receiver) -> None:
    client = await hooked_client(make_client)
    await make_hooked_bot(client, await login(client), "flaky", receiver.url("fail"))
    ws = await client.ws_connect("/ws/lobby", params={"user": "alice"})
    mention = await say(ws, "@flaky are you there?")
    assert (await receiver.next()).event["chat"]["id"] == mention["id"]
    bob = await client.ws_connect("/ws/lobby", params={"user": "bob"})
    assert (await say(bob, "meanwhile"))["message"] == "meanwhile"
    assert (await recv_chats(ws, 1))[0]["message"] == "meanwhile"
    for _ in range(webhooks.ATTEMPTS - 1):
        assert (await receiver.next()).event["chat"]["id"] == mention["id"]
    assert await failed(client, "flaky") == "HTTP 500 Internal Server Error"
    later = await say(ws, "@flaky and now?")
    # Retries of the first mention stopped: the next request is the next mention's.
    assert (await receiver.next()).event["chat"]["id"] == later["id"]
    assert (await client.get("/api/rooms/lobby/messages")).status == 200


async def test_a_hanging_webhook_times_out_without_holding_up_the_room_or_other_bots(
        make_client: Any, receiver: Receiver) -> None:
    client = await hooked_client(make_client, webhook_timeout=0.3)
    csrf = await login(client)
    await make_hooked_bot(client, csrf, "sleepy", receiver.url("hang"))
    await make_hooked_bot(client, csrf, "brisk", receiver.url("json"))
    ws = await client.ws_connect("/ws/lobby", params={"user": "alice"})
    await say(ws, "@sleepy wake up")
    assert (await receiver.next()).kind == "hang"
    hangs = 1
    asked = await say(ws, "@brisk are you quicker?")
    # Another bot answers while the first hangs, and people's messages keep arriving.
    while (delivered := await receiver.next()).kind == "hang":
        hangs += 1
    assert (delivered.kind, delivered.event["chat"]["id"]) == ("json", asked["id"])
    (reply,) = await recv_chats(ws, 1)
    assert (reply["user"], reply["message"]) == ("brisk", "done")
    assert (await say(ws, "still flowing"))["message"] == "still flowing"
    assert await failed(client, "sleepy") == "no answer within 0.3 s"
    while not receiver.got.empty():
        assert (await receiver.next()).kind == "hang"
        hangs += 1
    assert hangs == webhooks.ATTEMPTS  # then it gave up


async def test_redirects_are_not_followed_nor_retried(make_client: Any, receiver: Receiver) -> None:
    client = await hooked_client(make_client)
    await make_hooked_bot(client, await login(client), "moved", receiver.url("redirect"))
    ws = await client.ws_connect("/ws/lobby", params={"user": "alice"})
    await say(ws, "@moved hello")
    assert (await receiver.next()).kind == "redirect"
    assert await failed(client, "moved") == "HTTP 302: redirects are not followed"
    assert receiver.got.empty()  # neither the target nor a second attempt


# ---- server-side request forgery ----

@pytest.mark.parametrize(("url", "said"), [
    ("http://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address"),
    ("http://10.1.2.3/hook", "10.1.2.3 is a private address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("http://[::1]:8080/hook", "::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]/hook", "::ffff:7f00:1 is a loopback address"),  # yarl writes it so
    ("http://[fd00::1]/hook", "fd00::1 is a private address"),
    ("http://0.0.0.0/hook", "0.0.0.0 is an unspecified address"),
    ("http://224.0.0.1/hook", "224.0.0.1 is a multicast address"),
    ("http://localhost:8080/hook", "localhost resolves to"),
    ("ftp://example.org/hook", "must start with http:// or https://"),
    ("file:///etc/passwd", "must start with http:// or https://"),
])
async def test_webhooks_to_non_public_addresses_are_refused_by_default(client: Client, url: str, said: str) -> None:
    csrf = await login(client)
    response = await post(client, "/admin/bots", csrf, name="probe", rooms="", webhook=url)
    assert response.status == 400
    assert said in html.unescape(await response.text())
    made = await post(client, "/admin/bots", csrf, name="probe", rooms="", webhook="")
    assert made.status == 200
    refused = await post(client, "/admin/bots/1/webhook", csrf, webhook=url)
    assert refused.status == 303
    assert said in html.unescape(await (await client.get("/admin/bots")).text())
    assert (await bot_health(client, "probe"))[0] == 0 and 'class="bot-webhook"><span class="muted">none' in \
        await (await client.get("/admin/bots")).text()


async def test_a_webhook_set_while_private_addresses_were_allowed_is_refused_at_delivery(
        make_client: Any, receiver: Receiver) -> None:
    allowing = await hooked_client(make_client)
    csrf = await login(allowing)
    await make_hooked_bot(allowing, csrf, "byname", receiver.url("text", host="localhost"))
    await make_hooked_bot(allowing, csrf, "byaddress", receiver.url("text"))
    strict = await make_client()  # the same database, CHATAPP_WEBHOOK_ALLOW_PRIVATE off
    await login(strict)
    ws = await strict.ws_connect("/ws/lobby", params={"user": "alice"})
    await say(ws, "@byname @byaddress hello")
    assert "localhost resolves to" in await failed(strict, "byname")
    assert "127.0.0.1 is a loopback address" in await failed(strict, "byaddress")
    assert receiver.got.empty()  # never called: one attempt each, no retries


async def test_the_local_webhook_works_once_private_addresses_are_allowed_by_name_too(
        make_client: Any, receiver: Receiver) -> None:
    client = await hooked_client(make_client)
    await make_hooked_bot(client, await login(client), "local", receiver.url("json", host="localhost"))
    ws = await client.ws_connect("/ws/lobby", params={"user": "alice"})
    await say(ws, "@local hi")
    assert (await receiver.next()).kind == "json"
    assert (await recv_chats(ws, 1))[0]["message"] == "done"


async def test_a_bot_made_by_the_cli_with_a_webhook_is_called_by_the_running_server(
        make_client: Any, receiver: Receiver, settings: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("chatapp.bots.directory.REFRESH", 0.05)  # before the app starts
    client = await hooked_client(make_client)
    url = receiver.url("text")
    assert await run_cli("bots", "create", "cron", "--webhook", url, "--db", settings.db) == 1
    assert "loopback" in capsys.readouterr().err
    assert await run_cli("--webhook-allow-private", "bots", "create", "cron", "--webhook", url,
                         "--db", settings.db) == 0
    out, err = capsys.readouterr()
    secret = re.search(r"webhook signing secret \(shown only now\): (\S+)", err)
    assert out.startswith("cab_") and secret
    async with asyncio.timeout(TIMEOUT):  # the server looks for new bots every REFRESH
        # A plain GET of /ws/ answers 400 either way ("only speaks WebSocket"); only the
        # name_taken body says the server has loaded the new bot.
        while "name_taken" not in await (await client.get("/ws/lobby", params={"user": "cron"})).text():
            await asyncio.sleep(0.05)
    ws = await client.ws_connect("/ws/lobby", params={"user": "alice"})
    mention = await say(ws, "@cron ping")
    delivery = await receiver.next()
    assert delivery.event["chat"]["id"] == mention["id"] and verify(secret.group(1), delivery)
    assert (await recv_chats(ws, 1))[0]["message"] == "on it, alice"


# ---- the docs' receiver ----

DOCS = Path(__file__).resolve().parent.parent / "docs" / "bots.md"


async def test_the_receiver_in_the_docs_checks_the_signature_and_its_reply_shows_live(
        make_client: Any, tmp_path: Path) -> None:
    code = re.search(r"## A receiver in Python.*?```python\n(.*?)```", DOCS.read_text("utf-8"), re.S)
    assert code, "no receiver in docs/bots.md"
    script = tmp_path / "receiver.py"
    script.write_text(code.group(1), "utf-8")
    port = free_port()
    client = await hooked_client(make_client)
    _, secret = await make_hooked_bot(client, await login(client), "echo", f"http://127.0.0.1:{port}/")
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), env={**os.environ, "PORT": str(port), "WEBHOOK_SECRET": secret},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with asyncio.timeout(10):  # until it listens
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                break
        ws = await client.ws_connect("/ws/lobby", params={"user": "alice"})
        asked = await say(ws, "@echo hello there")
        (reply,) = await recv_chats(ws, 1)
        assert (reply["user"], reply["message"]) == ("echo", "Hi alice, I heard: @echo hello there")
        assert reply["reply_to"] == asked["id"]
        async with ClientSession() as session:
            forged = await session.post(f"http://127.0.0.1:{port}/", data=b'{"chat": {}}', headers={
                "X-Chatapp-Timestamp": str(int(time.time())), "X-Chatapp-Signature": "sha256=" + "0" * 64})
            assert forged.status == 401
    finally:
        process.terminate()
        await process.wait()

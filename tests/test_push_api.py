"""The push API and what stands around it, through the real app: who may subscribe (members,
with the CSRF token, from our own origin), which endpoints are refused (request forgery),
unsubscribing, the VAPID key kept beside the database or given by a setting, the service
worker at /sw.js, and the control on the room page."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chatapp.app import create_app
from chatapp.keys import SETTINGS, STORE
from chatapp.models import utc_now_iso
from chatapp.push import PUSH_NOTIFIER, payload
from chatapp.push.sender import Push
from chatapp.settings import Settings

from .member_client import Client, fresh_browser, sign_up
from .push_service import Browser, b64url
from .test_push import push_token, subscribe, subscriptions_of

PUBLIC_ENDPOINT = "https://push.example.com/wpush/v2/abc123"


async def member(make_client: Any, name: str = "bob", **overrides: Any) -> Client:
    client: Client = await make_client(**overrides)
    await sign_up(client, name)
    return client


async def test_guests_cannot_get_the_key_or_subscribe(client: Client) -> None:
    page = await (await client.get("/rooms/lobby")).text()
    assert "notify-control" not in page and "data-push-token" not in page
    assert (await client.get("/api/push/key")).status == 403
    refused = await client.post("/api/push/subscriptions", json=Browser().subscription(PUBLIC_ENDPOINT),
                                headers={"X-CSRF-Token": "anything"})
    assert refused.status == 403
    assert (await refused.json())["error"] == "forbidden"


async def test_a_member_gets_the_servers_key_as_an_application_server_key(make_client: Any) -> None:
    bob = await member(make_client)
    answer = await bob.get("/api/push/key")
    assert answer.status == 200 and answer.headers["Cache-Control"] == "no-store"
    key = base64.urlsafe_b64decode((await answer.json())["key"] + "==")
    assert len(key) == 65 and key[0] == 4  # an uncompressed P-256 point
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key)


async def test_subscribing_needs_the_csrf_token_and_our_own_origin(make_client: Any) -> None:
    bob = await member(make_client)
    subscription = Browser().subscription(PUBLIC_ENDPOINT)
    token = await push_token(bob)
    assert (await bob.post("/api/push/subscriptions", json=subscription)).status == 403
    assert (await bob.post("/api/push/subscriptions", json=subscription,
                           headers={"X-CSRF-Token": "not-the-token"})).status == 403
    assert (await bob.post("/api/push/subscriptions", json=subscription,
                           headers={"X-CSRF-Token": token, "Origin": "https://evil.example"})).status == 403
    assert (await bob.post("/api/push/subscriptions/delete", json={"endpoint": PUBLIC_ENDPOINT})).status == 403
    assert await subscriptions_of(bob, 1) == []
    assert (await subscribe(bob, subscription)).status == 201
    assert [row[0] for row in await subscriptions_of(bob, 1)] == [PUBLIC_ENDPOINT]


@pytest.mark.parametrize(("endpoint", "why"), [
    ("http://push.example.com/x", "https://"),
    ("https://127.0.0.1/x", "loopback"),
    ("https://10.0.0.7:8443/x", "private"),
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("https://[::1]/x", "loopback"),
    ("https://[::ffff:192.168.1.1]/x", "private"),
    ("https://user:secret@push.example.com/x", "user name"),
    ("ftp://push.example.com/x", "https://"),
    ("https:///no-host", "host"),
    ("https://push.example.com/" + "a" * 2000, "longer"),
])
async def test_endpoints_the_server_must_not_call_are_refused(make_client: Any, endpoint: str, why: str) -> None:
    bob = await member(make_client)
    refused = await subscribe(bob, Browser().subscription(endpoint))
    assert refused.status == 400
    assert why in (await refused.json())["detail"]
    assert await subscriptions_of(bob, 1) == []


async def test_loopback_http_endpoints_are_allowed_only_when_a_setting_says_so(make_client: Any) -> None:
    bob = await member(make_client, push_allow_private=True)
    assert (await subscribe(bob, Browser().subscription("http://127.0.0.1:9/push/x"))).status == 201


@pytest.mark.parametrize("keys", [
    {},
    {"p256dh": "not base64!", "auth": b64url(os.urandom(16))},
    {"p256dh": b64url(b"\x04" + bytes(64)), "auth": b64url(os.urandom(16))},  # not a point on the curve
    {"p256dh": Browser().subscription("x")["keys"]["p256dh"], "auth": b64url(os.urandom(8))},
])
async def test_subscriptions_without_proper_keys_are_refused(make_client: Any, keys: dict[str, str]) -> None:
    bob = await member(make_client)
    refused = await subscribe(bob, {"endpoint": PUBLIC_ENDPOINT, "keys": keys})
    assert refused.status == 400 and await subscriptions_of(bob, 1) == []


async def test_a_host_name_that_resolves_to_loopback_is_refused_at_delivery(make_client: Any) -> None:
    bob = await member(make_client)
    assert (await subscribe(bob, Browser().subscription("https://localhost:9/push/x"))).status == 201
    app = bob.server.app
    (sub,) = await app[STORE].push_subscriptions([1], utc_now_iso())
    push_sender = app[PUSH_NOTIFIER].sender
    assert push_sender is not None
    outcome = await push_sender.attempt(Push(sub, b"{}", True, "t"))
    assert outcome.error == "the endpoint's host resolves to a non-public address" and not outcome.retry


async def test_unsubscribing_deletes_only_ones_own_subscription(make_client: Any, aiohttp_client: Any) -> None:
    bob = await member(make_client)
    alice = await fresh_browser(bob, aiohttp_client)
    await sign_up(alice, "alice")
    assert (await subscribe(bob, Browser().subscription(PUBLIC_ENDPOINT))).status == 201
    theirs = await alice.post("/api/push/subscriptions/delete", json={"endpoint": PUBLIC_ENDPOINT},
                              headers={"X-CSRF-Token": await push_token(alice)})
    assert await theirs.json() == {"deleted": False}
    mine = await bob.post("/api/push/subscriptions/delete", json={"endpoint": PUBLIC_ENDPOINT},
                          headers={"X-CSRF-Token": await push_token(bob)})
    assert await mine.json() == {"deleted": True}
    assert await subscriptions_of(bob, 1) == []


async def test_a_member_keeps_at_most_ten_browsers_subscribed(make_client: Any) -> None:
    bob = await member(make_client)
    for n in range(12):
        assert (await subscribe(bob, Browser().subscription(f"{PUBLIC_ENDPOINT}/{n}"))).status == 201
    kept = sorted(int(row[0].rsplit("/", 1)[1]) for row in await subscriptions_of(bob, 1))
    assert kept == list(range(2, 12))


async def test_the_vapid_key_is_made_once_and_kept_beside_the_database(settings: Settings, aiohttp_client: Any) -> None:
    first = await aiohttp_client(create_app(settings))
    await sign_up(first, "bob")
    key = (await (await first.get("/api/push/key")).json())["key"]
    path = Path(settings.db + ".vapid")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    await first.close()
    second = await aiohttp_client(create_app(settings))
    await sign_up(second, "carol")
    assert (await (await second.get("/api/push/key")).json())["key"] == key


async def test_a_vapid_key_can_be_given_by_a_setting(make_client: Any) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    raw = b64url(private.private_numbers().private_value.to_bytes(32, "big"))
    public = b64url(private.public_key().public_bytes(serialization.Encoding.X962,
                                                      serialization.PublicFormat.UncompressedPoint))
    bob = await member(make_client, vapid_private_key=raw, vapid_subject="mailto:ops@example.org")
    assert (await (await bob.get("/api/push/key")).json())["key"] == public
    assert not Path(bob.server.app[SETTINGS].db + ".vapid").exists()


def test_a_bad_vapid_key_setting_stops_the_server_before_it_serves(settings: Settings) -> None:
    with pytest.raises(SystemExit, match="CHATAPP_VAPID_PRIVATE_KEY"):
        create_app(settings.replace(vapid_private_key="not a key"))


async def test_the_service_worker_is_served_at_the_root_and_revalidated(make_client: Any) -> None:
    client = await make_client(access="members")  # open even to those not logged in
    answer = await client.get("/sw.js")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/javascript")
    assert answer.headers["Cache-Control"] == "no-cache"
    assert "Service-Worker-Allowed" not in answer.headers
    text = await answer.text()
    assert 'addEventListener("push"' in text and 'addEventListener("notificationclick"' in text


async def test_a_members_room_page_has_the_notifications_control(make_client: Any) -> None:
    bob = await member(make_client)
    page = await (await bob.get("/rooms/lobby")).text()
    assert 'id="notify-control"' in page and 'data-key-path="/api/push/key"' in page
    assert 'id="notify-on"' in page and "Turn on notifications" in page


def test_a_push_says_the_message_as_plain_text() -> None:
    assert payload.plain_text("**bold**, _em_ and `code`\n\n> quoted\n\n- one\n- two") == \
        "bold, em and code quoted one two"
    assert payload.plain_text("<script>alert(1)</script> &amp; [a link](https://example.org)") == \
        "<script>alert(1)</script> & a link"
    assert payload.excerpt("x" * 300) == "x" * 199 + "…"
    assert payload.room_url("café ünd", 7) == "/rooms/caf%C3%A9%20%C3%BCnd?at=7"


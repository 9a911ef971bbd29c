"""The Web Push key is read or made when it is first needed, not at start (see
chatapp.push.vapid): a damaged key file therefore shows then, as an error the operator can
read in the log, and a push that cannot be signed costs its subscription nothing."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from chatapp.keys import SETTINGS
from chatapp.push import PUSH_NOTIFIER

from .test_push import BOB, notify, people, said, service, subscribed, subscriptions_of

__all__ = ["service"]  # the local push service fixture, shared with tests/test_push.py


async def test_a_damaged_key_file_fails_the_key_api_and_pushes_but_costs_no_subscription(
        make_client: Any, aiohttp_client: Any, service: Any, caplog: pytest.LogCaptureFixture) -> None:
    alice, bob, _ = await people(make_client, aiohttp_client)
    key_file = Path(alice.server.app[SETTINGS].db + ".vapid")
    assert not key_file.exists()  # nobody asked for it yet
    key_file.write_text("not a key")
    key_file.chmod(0o600)
    with caplog.at_level(logging.ERROR):
        answer = await bob.get("/api/push/key")
        assert answer.status == 500
        assert (await answer.json())["error"] == "server_error"
        await subscribed(bob, service, "bob")  # subscribing needs only the browser's keys
        message = await said(alice, "lobby", "anyone there?")
        notify(alice, message, {BOB}, "dm")
        await alice.server.app[PUSH_NOTIFIER].settled()
    assert service.taken() == []
    ((_, failures, last_success),) = await subscriptions_of(alice, BOB)
    assert failures == 0 and last_success is None
    assert any("does not hold a VAPID private key" in r.getMessage() or
               (r.exc_info and "does not hold a VAPID private key" in str(r.exc_info[1])) for r in caplog.records)
    key_file.unlink()  # deleted, as the error says: a new key is made on the next ask
    answer = await bob.get("/api/push/key")
    assert answer.status == 200 and key_file.exists()

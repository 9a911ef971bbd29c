"""Older history: the page starts with the latest 50 and fetches the rest on demand."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .conftest import ChatServer, message_ids, message_texts

pytestmark = pytest.mark.browser


def test_load_older_brings_back_everything_beyond_the_first_50_in_order_without_duplicates(
        page: Page, server: ChatServer) -> None:
    texts = [f"message {i:03d}" for i in range(1, 121)]
    sent = server.seed("archive", "Rupert", texts)
    page.goto(server.url + "/rooms/archive")
    expect(page.locator("#status")).to_have_attribute("data-state", "online")
    messages = page.locator("#messages .message")
    expect(messages).to_have_count(50)
    assert message_texts(page) == texts[-50:]

    older = page.locator("#load-older")
    for _ in range(5):  # 120 messages are two more pages of 50; a bound, not a guess
        if older.is_hidden():
            break
        older.click()
        # The button is disabled while a page is loading and hidden after the last one.
        expect(older).to_be_enabled()
    expect(older).to_be_hidden()
    expect(messages).to_have_count(120)
    assert message_texts(page) == texts
    assert message_ids(page) == [f["id"] for f in sent]

    # Live messages still land at the end, after all that history.
    page.locator("#send [name=message]").fill("and a new one")
    page.locator("#send [name=message]").press("Enter")
    expect(messages).to_have_count(121)
    expect(messages.last.locator(".text")).to_have_text("and a new one")

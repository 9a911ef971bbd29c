"""The message box near and over the length limit: nothing typed or pasted is cut or lost.

The limit is the server's (4,000 characters as Python counts them, in code points). The
page shows the length against it from 90% on, refuses to send past it with the reason,
and leaves the text in the box; the server still enforces it on its own.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, WebSocket, expect

from .conftest import DESKTOP, PHONE, Browsers, ChatServer, open_room, screenshot

pytestmark = pytest.mark.browser

LIMIT = 4000
DANGER = "rgb(180, 35, 24)"  # --danger in the light scheme


def paste(page: Page, box: Locator, text: str) -> None:
    """Paste ``text`` the way a person does: into the clipboard, then Ctrl+V in the box."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    box.focus()
    page.evaluate("text => navigator.clipboard.writeText(text)", text)
    box.press("ControlOrMeta+V")


def chat_frames_sent(page: Page) -> list[dict[str, Any]]:
    """Every chat message the page puts on its sockets, from now on (call before opening)."""
    sent: list[dict[str, Any]] = []

    def watch(ws: WebSocket) -> None:
        def on_frame(payload: str | bytes) -> None:
            frame = json.loads(payload)
            if "message" in frame:
                sent.append(frame)
        ws.on("framesent", on_frame)

    page.on("websocket", watch)
    return sent


def test_a_pasted_message_over_the_limit_is_kept_whole_refused_and_sent_once_trimmed(
        page: Page, server: ChatServer) -> None:
    sent = chat_frames_sent(page)
    open_room(page, server.url, "lobby", "Olga")
    box = page.locator("#send [name=message]")
    too_long = "word " * 800 + "!"  # 4,001 characters, the last one the one a cut would lose
    assert len(too_long) == LIMIT + 1

    paste(page, box, too_long)
    expect(box).to_have_value(too_long)  # nothing cut on the way in
    box.press("Enter")
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("4,001 characters long; the limit is 4,000")
    expect(alert).to_contain_text("Remove 1 character")
    expect(box).to_have_value(too_long)  # nothing the person typed is lost
    expect(box).to_be_focused()
    expect(page.locator(".pending-message")).to_have_count(0)

    page.locator("#send button").click()  # the button refuses the same way
    expect(box).to_have_value(too_long)

    box.press("End")
    box.press("Backspace")
    box.press("Enter")
    message = page.locator("#messages .message")
    expect(message).to_have_count(1)
    assert message.locator(".text").text_content() == too_long[:-1].rstrip()  # shown as Markdown: no trailing space
    expect(box).to_have_value("")
    expect(alert).to_be_hidden()  # the refusal no longer applies
    expect(page.locator("#message-length")).to_be_hidden()
    # The refused text never went out, not even cut: one frame, the trimmed one.
    assert [f["message"] for f in sent] == [too_long[:-1]]


def test_the_length_shows_against_the_limit_near_it_and_turns_red_over_it(
        page: Page, server: ChatServer) -> None:
    open_room(page, server.url, "lobby", "Piotr")
    box = page.locator("#send [name=message]")
    counter = page.locator("#message-length")

    box.fill("x" * 3599)
    expect(counter).to_be_hidden()  # far enough from the limit not to matter
    box.press_sequentially("x")
    expect(counter).to_be_visible()
    expect(counter).to_have_text("3,600 / 4,000")
    expect(counter).not_to_have_class("message-length over")

    box.fill("x" * 3998)
    box.press_sequentially("abc")  # typing on past the limit is not stopped, it is counted
    expect(box).to_have_value("x" * 3998 + "abc")
    expect(counter).to_have_text("4,001 / 4,000 · 1 over the limit")
    expect(counter).to_have_class("message-length over")
    expect(counter).to_have_css("color", DANGER)
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(box).to_have_attribute("aria-describedby", "message-length")

    box.press("Backspace")
    expect(counter).to_have_text("4,000 / 4,000")
    expect(counter).not_to_have_class("message-length over")
    expect(box).not_to_have_attribute("aria-invalid", "true")
    box.press("Enter")
    expect(page.locator("#messages .message")).to_have_count(1)
    expect(counter).to_be_hidden()


def test_the_limit_counts_characters_as_the_server_does_so_4000_emoji_are_sent_whole(
        page: Page, server: ChatServer) -> None:
    open_room(page, server.url, "lobby", "Quinn")
    box = page.locator("#send [name=message]")
    emoji = "\U0001F600" * LIMIT  # 4,000 characters to Python, 8,000 UTF-16 units to a browser

    paste(page, box, emoji)
    expect(page.locator("#message-length")).to_have_text("4,000 / 4,000")
    box.press("Enter")
    expect(page.locator("#messages .message")).to_have_count(1)
    assert page.locator("#messages .message .text").text_content() == emoji
    expect(page.get_by_role("alert")).to_be_hidden()

    paste(page, box, emoji + "\U0001F600")
    expect(page.locator("#message-length")).to_have_text("4,001 / 4,000 · 1 over the limit")
    box.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("the limit is 4,000")
    expect(page.locator("#messages .message")).to_have_count(1)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_screenshots_of_a_message_refused_for_its_length(
        server: ChatServer, browsers: Browsers, size: str) -> None:
    server.seed("release-planning", "Alice", ["Can someone paste the full incident log here?"])
    phone = size == "phone"
    page = open_room(browsers.page(viewport=PHONE if phone else DESKTOP, is_mobile=phone, has_touch=phone),
                     server.url, "release-planning", "Bob")
    box = page.locator("#send [name=message]")
    box.fill("12:00:01 worker-3 retrying the upload after a timeout\n" * 80)  # 4,320 characters
    box.press("Enter")
    counter = page.locator("#message-length")
    expect(counter).to_have_text("4,320 / 4,000 · 320 over the limit")
    expect(page.get_by_role("alert")).to_be_visible()
    for part in (counter, page.get_by_role("alert"), page.locator("#send button")):
        expect(part).to_be_in_viewport()
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
    screenshot(page, f"room-over-limit-{size}")

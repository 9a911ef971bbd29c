"""A page far behind the room: a link to an old message, a tab waking up, a busy room. The
page stays responsive, keeps at most CAP messages, and pages through history instead of
replaying it."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from .conftest import PHONE, Browsers, ChatServer, TcpRelay, message_ids, message_texts, open_room, say, screenshot

pytestmark = pytest.mark.browser

CAP = 500  # static/room-timeline.js
RESET_PAGE = 50  # chatapp/ws.py


def seed_many(server: ChatServer, room: str, n: int, start: int = 0) -> list[int]:
    ids: list[int] = []
    for first in range(start, start + n, 1000):
        texts = [f"m{i:05d}" for i in range(first, min(first + 1000, start + n))]
        ids += [f["id"] for f in server.seed(room, "Bulk", texts)]
    return ids


def assert_responsive(page: Page, bound: float = 1.5) -> None:
    """A trivial script comes back quickly: the page's main thread is not stuck."""
    for _ in range(3):
        started = time.monotonic()
        assert page.evaluate("() => 1 + 1") == 2
        took = time.monotonic() - started
        assert took < bound, f"the page took {took:.1f} s to run a trivial script"


def test_a_link_to_an_old_message_with_thousands_newer_stays_responsive_and_small(
        page: Page, server: ChatServer) -> None:
    ids = seed_many(server, "archive", 3100)
    page.goto(f"{server.url}/rooms/archive?at={ids[20]}")
    expect(page.locator("#status")).to_have_attribute("data-state", "online")
    assert_responsive(page)
    # The reader keeps reading where the link put them; the newest wait behind a bar.
    jump = page.locator("#jump-latest")
    expect(jump).to_be_visible()
    expect(jump).to_contain_text("Jump to latest")
    expect(page.locator(f"#m{ids[20]}.highlight")).to_be_in_viewport()
    assert_responsive(page)
    assert page.locator("#messages .message").count() <= CAP
    screenshot(page, "room-jump-to-latest-desktop")

    jump.click()
    expect(page.locator("#messages .message .text").last).to_have_text("m03099")
    expect(jump).to_be_hidden()
    assert page.locator("#messages .message").count() <= CAP
    ids_shown = message_ids(page)
    assert ids_shown == sorted(set(ids_shown)) and ids_shown[-1] == ids[-1]
    expect(page.locator("#load-older")).to_be_visible()

    # Live again: a new message lands at the end.
    say(page, "back to now")
    expect(page.locator("#messages .message .text").last).to_have_text("back to now")


def test_a_page_following_a_busy_room_keeps_at_most_the_cap_and_the_latest(
        page: Page, server: ChatServer) -> None:
    open_room(page, server.url, "busy", "Watcher")
    seed_many(server, "busy", CAP + 150)
    messages = page.locator("#messages .message")
    expect(messages.last.locator(".text")).to_have_text(f"m{CAP + 149:05d}")
    assert_responsive(page)
    expect(messages).to_have_count(CAP)
    assert message_texts(page)[0] == "m00150"
    older = page.locator("#load-older")
    expect(older).to_be_visible()

    # Reading back stays bounded too: the newest make way, and the bar brings them back.
    older.click()
    expect(messages.first.locator(".text")).to_have_text("m00100")
    expect(messages).to_have_count(CAP)
    page.locator("#jump-latest").click()
    expect(messages.last.locator(".text")).to_have_text(f"m{CAP + 149:05d}")
    ids = message_ids(page)
    assert ids == sorted(set(ids)) and len(ids) <= CAP


def test_a_tab_reconnecting_far_behind_gets_the_latest_page_and_can_load_older(
        browsers: Browsers, server: ChatServer, relay: TcpRelay) -> None:
    page = browsers.page()
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    open_room(page, relay.url, "lobby", "Sleepy")
    say(page, "before the nap")
    expect(page.locator("#messages .message")).to_have_count(1)

    relay.cut()
    expect(page.locator("#status")).to_have_attribute("data-state", "reconnecting")
    ids = seed_many(server, "lobby", 900)
    relay.restore()

    expect(page.locator("#status")).to_have_attribute("data-state", "online", timeout=20_000)
    messages = page.locator("#messages .message")
    expect(messages.last.locator(".text")).to_have_text("m00899")
    # The newest page, not all 900 (a short page may already have fetched one older page).
    shown = message_ids(page)
    assert RESET_PAGE <= len(shown) <= 2 * RESET_PAGE and shown == ids[-len(shown):]
    assert "before the nap" not in message_texts(page)
    assert_responsive(page)
    assert all("max_backfill=" in url for url in sockets)

    page.locator("#load-older").click()
    expect(messages).to_have_count(len(shown) + 50)
    assert message_ids(page) == ids[-len(shown) - 50:]


def local_name(page: Page) -> str | None:
    result: str | None = page.evaluate("() => localStorage.getItem('chatapp:user')")
    return result


def test_a_name_from_a_link_is_used_for_the_visit_and_kept_only_when_confirmed(
        browsers: Browsers, server: ChatServer) -> None:
    context = browsers.context()
    page = context.new_page()
    page.goto(server.url + "/rooms/lobby?user=Mallory")
    expect(page.locator("#status")).to_have_attribute("data-state", "online")
    expect(page.locator("#name")).to_have_value("Mallory")
    expect(page.locator("#presence li")).to_have_text(["Mallory"])
    prompt = page.locator("#name-prompt")
    expect(prompt).to_be_visible()
    expect(prompt).to_contain_text("Mallory")
    assert local_name(page) is None  # not saved: another room does not know it
    other = context.new_page()
    other.goto(server.url + "/rooms/elsewhere")
    expect(other.locator("#name")).to_have_value("")

    screenshot(page, "room-name-prompt-desktop")
    page.click("#name-keep")
    expect(prompt).to_be_hidden()
    assert local_name(page) == "Mallory"


def test_a_link_never_replaces_a_kept_name_without_asking(browsers: Browsers, server: ChatServer) -> None:
    context = browsers.context()
    mine = open_room(context.new_page(), server.url, "lobby", "Alice")  # kept
    assert local_name(mine) == "Alice"

    page = context.new_page()
    page.goto(server.url + "/rooms/lobby?user=Eve")
    expect(page.locator("#status")).to_have_attribute("data-state", "online")
    expect(page.locator("#name")).to_have_value("Eve")
    assert local_name(page) == "Alice"
    revert = page.locator("#name-revert")
    expect(revert).to_have_text("Use \u201cAlice\u201d")
    revert.click()
    expect(page.locator("#name-prompt")).to_be_hidden()
    expect(page.locator("#name")).to_have_value("Alice")
    expect(page.locator("#status")).to_have_attribute("data-state", "online")
    say(page, "still me")
    expect(page.locator("#messages .message .user").last).to_have_text("Alice")
    assert local_name(page) == "Alice"

    # Confirming in the name field itself keeps it too.
    again = context.new_page()
    again.goto(server.url + "/rooms/lobby?user=Eve")
    expect(again.locator("#name-prompt")).to_be_visible()
    again.press("#name", "Enter")
    expect(again.locator("#name-prompt")).to_be_hidden()
    assert local_name(again) == "Eve"


def test_screenshots_of_the_name_prompt_and_the_jump_bar_on_a_phone(
        browsers: Browsers, server: ChatServer) -> None:
    ids = seed_many(server, "archive", 700)
    page = browsers.page(viewport=PHONE, is_mobile=True, has_touch=True)
    page.goto(f"{server.url}/rooms/archive?at={ids[5]}&user=Mallory")
    expect(page.locator("#status")).to_have_attribute("data-state", "online")
    expect(page.locator("#name-prompt")).to_be_visible()
    expect(page.locator("#jump-latest")).to_be_visible()
    screenshot(page, "room-name-prompt-and-jump-phone")

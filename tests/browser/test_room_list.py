"""The room list after a flood, in Chromium: a page at a time, a box to find any room, and
the admin deleting the flood's rooms in one go."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from playwright.sync_api import expect

from chatapp.models import iso_utc

from .conftest import DESKTOP, PHONE, Browsers, ChatServer, screenshot
from .test_admin import log_in

pytestmark = pytest.mark.browser


def flood(server: ChatServer, names: list[str], start: dt.datetime) -> None:
    """One message in each room, written straight into the running server's database."""
    assert server.db is not None
    conn = sqlite3.connect(server.db, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.executemany("INSERT INTO messages (room, user, body, ts) VALUES (?, 'bot', 'spam', ?)",
                         [(n, iso_utc(start + dt.timedelta(seconds=i))) for i, n in enumerate(names)])
    finally:
        conn.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_room_list_pages_on_and_finds_a_room_beyond_the_first_page(
        browsers: Browsers, server: ChatServer, size: str) -> None:
    server.seed("team-notes", "Alice", ["Notes from Monday", "and Tuesday"])
    flood(server, [f"spam-{i:03d}" for i in range(120)], dt.datetime.now(dt.UTC))
    page = browsers.page(viewport=DESKTOP if size == "desktop" else PHONE)
    page.goto(server.url + "/")
    expect(page.locator("#room-list .room-item")).to_have_count(50)
    expect(page.locator("#room-list [data-room=team-notes]")).to_have_count(0)
    page.locator("#more-rooms").click()
    expect(page.locator("#room-list .room-item")).to_have_count(50)
    expect(page.locator("#room-list .room-item").first).to_have_attribute("data-room", "spam-069")
    page.locator("#room-search input[name=q]").fill("notes")
    page.locator("#room-search input[name=q]").press("Enter")
    expect(page.locator("#room-list .room-item")).to_have_count(1)
    expect(page.locator("#room-list [data-room=team-notes] .count")).to_have_text("2")
    screenshot(page, f"index-found-{size}")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_operator_deletes_the_flood_rooms_in_one_go(browsers: Browsers, server: ChatServer, size: str) -> None:
    server.seed("team-notes", "Alice", ["Notes from Monday", "and Tuesday"])
    flood(server, [f"spam-{i:03d}" for i in range(30)], dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    admin = browsers.page(viewport=DESKTOP if size == "desktop" else PHONE)
    admin.on("dialog", lambda dialog: dialog.accept())
    log_in(admin, server)
    expect(admin.locator("#totals [data-total=rooms]")).to_have_text("31")
    admin.locator("#bulk").scroll_into_view_if_needed()
    screenshot(admin, f"admin-bulk-form-{size}")
    admin.locator("#bulk-form button").click()
    expect(admin.locator("#bulk-count")).to_have_text("30")
    screenshot(admin, f"admin-bulk-{size}")
    admin.locator("form.bulk-confirm button").click()
    expect(admin.locator(".flash")).to_contain_text("Deleted 30 rooms")
    expect(admin.locator("#rooms tbody tr")).to_have_count(1)
    expect(admin.locator("#rooms tr[data-room=team-notes] .count")).to_have_text("2")

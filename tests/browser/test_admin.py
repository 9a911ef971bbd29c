"""The operator's admin, seen from both sides: the admin pages and a room page left open."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .conftest import (
    ADMIN_PASSWORD,
    DESKTOP,
    PHONE,
    Browsers,
    ChatServer,
    open_room,
    screenshot,
)

pytestmark = pytest.mark.browser


def log_in(page: Page, server: ChatServer) -> None:
    page.goto(server.url + "/admin/login")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.press("input[name=password]", "Enter")
    expect(page.locator("#rooms")).to_be_visible()


def test_a_wrong_admin_password_is_refused_in_plain_words(page: Page, server: ChatServer) -> None:
    page.goto(server.url + "/admin")
    expect(page.locator("input[name=password]")).to_be_visible()  # sent to the login first
    page.fill("input[name=password]", "not the password")
    page.press("input[name=password]", "Enter")
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator("#rooms")).to_have_count(0)


def test_admin_counts_rooms_deletes_a_message_live_and_locks_a_room(
        browsers: Browsers, server: ChatServer) -> None:
    sent = server.seed("general", "Uma", ["first", "spam spam spam", "third"])
    server.seed("quiet", "Victor", ["anyone?"])
    reader = open_room(browsers.page(), server.url, "general", "Wendy")
    expect(reader.locator("#messages .message")).to_have_count(3)

    admin = browsers.page()
    log_in(admin, server)
    expect(admin.locator("#rooms tr[data-room=general] .count")).to_have_text("3")
    expect(admin.locator("#rooms tr[data-room=quiet] .count")).to_have_text("1")

    admin.locator("#rooms tr[data-room=general] a").first.click()
    spam = sent[1]["id"]
    admin.locator(f"form[action*='/messages/{spam}/delete'] button").click()
    # The open room page drops the message without a reload; the others stay, in order.
    expect(reader.locator(f"#messages .message[data-id='{spam}']")).to_have_count(0)
    expect(reader.locator("#messages .message .text")).to_have_text(["first", "third"])
    expect(admin.locator(f"form[action*='/messages/{spam}/delete']")).to_have_count(0)

    admin.locator("form[action$='/lock'] button").click()
    expect(admin.locator("h1 .badge")).to_have_text("locked")
    expect(reader.locator("#locked-notice")).to_be_visible()
    expect(reader.locator("#send [name=message]")).to_be_disabled()
    expect(reader.locator("body")).to_have_class("room-page locked")

    # A page opened now shows the lock too, and so does the room list.
    late = browsers.page()
    late.goto(server.url + "/rooms/general")
    expect(late.locator("#locked-notice")).to_be_visible()
    expect(late.locator("#send button")).to_be_disabled()
    admin.goto(server.url + "/admin")
    expect(admin.locator("#rooms tr[data-room=general] .count")).to_have_text("2")
    expect(admin.locator("#rooms tr[data-room=general] .badge")).to_have_text("locked")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_screenshots_of_the_admin(browsers: Browsers, server: ChatServer, size: str) -> None:
    server.seed("release-planning", "Alice", ["Morning all!", "Branch is cut."])
    server.seed("random", "Dave", ["Lunch?"])
    server.seed("support", "Erin", ["Ticket 1234 is fixed.", "And 1235.", "And 1236."])
    open_room(browsers.page(), server.url, "support", "Erin")
    admin = browsers.page(viewport=DESKTOP if size == "desktop" else PHONE)
    log_in(admin, server)
    expect(admin.locator("#rooms tbody tr")).to_have_count(3)
    expect(admin.locator("#rooms tr[data-room=support] .connections")).to_have_text("1")
    screenshot(admin, f"admin-{size}")
    admin.locator("#rooms tr[data-room=support] a").first.click()
    expect(admin.locator("#admin-messages .admin-message")).to_have_count(3)
    screenshot(admin, f"admin-room-{size}")


def test_clearing_and_then_deleting_a_room_empties_the_open_pages(
        browsers: Browsers, server: ChatServer) -> None:
    server.seed("doomed", "Xavier", ["one", "two"])
    reader = open_room(browsers.page(), server.url, "doomed", "Yvonne")
    expect(reader.locator("#messages .message")).to_have_count(2)
    admin = browsers.page()
    admin.on("dialog", lambda dialog: dialog.accept())  # the "are you sure?" of each form
    log_in(admin, server)
    admin.goto(server.url + "/admin/rooms/doomed")

    admin.locator("form[action$='/clear'] button").click()
    expect(reader.locator("#messages .message")).to_have_count(0)
    expect(reader.locator("#empty")).to_be_visible()
    expect(reader.locator("#status")).to_have_attribute("data-state", "online")

    admin.locator("form[action$='/doomed/delete'] button").click()
    expect(reader.locator("#status")).to_have_attribute("data-state", "offline")
    expect(reader.get_by_role("alert")).to_contain_text("deleted this room")


def test_logging_out_everywhere_ends_the_session_in_another_browser(
        browsers: Browsers, server: ChatServer) -> None:
    desk = browsers.page()
    laptop = browsers.page()
    log_in(desk, server)
    log_in(laptop, server)
    desk.on("dialog", lambda dialog: dialog.accept())
    desk.get_by_role("button", name="Log out everywhere").click()
    expect(desk.get_by_role("status")).to_contain_text("Logged out everywhere: 2 sessions ended.")
    expect(desk.locator("input[name=password]")).to_be_visible()
    # The other browser's open room table notices at its next poll; a reload asks to log in.
    expect(laptop.locator("#refresh-state")).to_have_attribute("data-state", "logged-out", timeout=10_000)
    laptop.reload()
    expect(laptop.locator("input[name=password]")).to_be_visible()

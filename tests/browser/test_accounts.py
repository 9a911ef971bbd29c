"""Accounts in a real browser: a member signs up and chats under their own name, a guest
who picks that name is told why they cannot, and the account pages at two widths."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import DESKTOP, PHONE, Browsers, ChatServer, open_room, say, screenshot, sign_up

pytestmark = pytest.mark.browser

PASSWORD = "a long enough password"


def test_a_member_signs_up_and_chats_and_a_guest_cannot_take_their_name(
        browsers: Browsers, server: ChatServer) -> None:
    alice = browsers.page()
    sign_up(alice, server.url, "Alice")
    open_room(alice, server.url, "lobby")
    expect(alice.locator("#name")).to_have_value("Alice")  # the account's name, not editable
    expect(alice.locator("#name")).not_to_be_editable()
    say(alice, "hello, I am the real Alice")
    mine = alice.locator("#messages .message", has_text="the real Alice")
    expect(mine.locator(".user")).to_have_text("Alice")
    expect(mine).to_have_class(re.compile(r"\bmember\b"))
    expect(mine).to_have_class(re.compile(r"\bmine\b"))

    guest = browsers.page()
    guest.goto(f"{server.url}/rooms/lobby?user=%D0%B0lice")  # "alice" with a Cyrillic a (U+0430)
    expect(guest.locator("#alert")).to_contain_text("belongs to a member")
    expect(guest.locator("#status")).to_have_text("name taken")
    theirs = guest.locator("#messages .message", has_text="the real Alice")
    expect(theirs).to_have_class("message member")
    expect(theirs.locator(".guest-badge")).to_be_hidden()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_screenshots_of_the_account_pages(browsers: Browsers, server: ChatServer, size: str) -> None:
    viewport = DESKTOP if size == "desktop" else PHONE
    page = browsers.page(viewport=viewport)
    page.goto(f"{server.url}/login")
    screenshot(page, f"login-{size}")
    page.goto(f"{server.url}/signup")
    page.fill("input[name=name]", "anonymous")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(".form-error")).to_be_visible()
    screenshot(page, f"signup-error-{size}")
    sign_up(page, server.url, "Alice")
    page.goto(f"{server.url}/account")
    screenshot(page, f"account-{size}")
    server.seed("lobby", "Bob", ["a guest's message"])
    open_room(page, server.url, "lobby")
    say(page, "a member's message")
    expect(page.locator("#messages .message")).to_have_count(2)
    screenshot(page, f"room-member-{size}")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0

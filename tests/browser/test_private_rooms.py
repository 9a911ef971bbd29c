"""Private rooms and direct messages in a real browser: two members talk in a DM that a
third cannot open, a member removed from a private room is told so and stops, and the
pages that make and manage them at two widths."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Route, expect

from .conftest import DESKTOP, PHONE, Browsers, ChatServer, message_texts, open_room, say, screenshot
from .test_accounts import sign_up
from .test_admin import log_in

pytestmark = pytest.mark.browser


def _wait_online(page: Page) -> None:
    expect(page.locator("#status")).to_have_attribute("data-state", "online")


def _make_private_room(page: Page, base_url: str, room: str, *members: str) -> None:
    page.goto(f"{base_url}/private/new")
    page.fill("#new-private-room input[name=room]", room)
    page.click("#new-private-room button[type=submit]")
    expect(page).to_have_url(f"{base_url}/rooms/{room}")
    for name in members:
        box = page.locator("#add-member input[name=name]")
        box.fill(name)
        # Enter submits as the button does, and cannot land on something else while the
        # page's scripts are still laying out the phone's top bar.
        box.press("Enter")
        expect(page.locator(f"#room-members li[data-member='{name}']")).to_be_visible()
    _wait_online(page)


def test_two_members_talk_in_a_dm_that_a_third_cannot_open(browsers: Browsers, server: ChatServer) -> None:
    alice, bob, carol = browsers.page(), browsers.page(), browsers.page()
    sign_up(alice, server.url, "Alice")
    sign_up(bob, server.url, "Bob")
    sign_up(carol, server.url, "Carol")

    alice.goto(f"{server.url}/dm/bob")  # names fold: "bob" is Bob
    expect(alice).to_have_url(f"{server.url}/rooms/dm-1-2")
    _wait_online(alice)
    bob.goto(f"{server.url}/dm/Alice")
    expect(bob).to_have_url(f"{server.url}/rooms/dm-1-2")  # the same conversation from either side
    _wait_online(bob)

    say(alice, "just between us")
    expect(bob.locator("#messages .message .text")).to_have_text(["just between us"])
    say(bob, "agreed")
    expect(alice.locator("#messages .message .text")).to_have_text(["just between us", "agreed"])

    response = carol.goto(f"{server.url}/rooms/dm-1-2")
    assert response is not None and response.status == 404
    assert "just between us" not in carol.content()
    carol.goto(server.url)
    expect(carol.locator("#dm-list")).to_have_count(0)
    bob.goto(server.url)
    expect(bob.locator("#dm-list li")).to_have_text(["Alice 2 messages"])


def test_a_member_removed_from_a_private_room_is_told_and_stops(browsers: Browsers, server: ChatServer) -> None:
    alice, bob = browsers.page(), browsers.page()
    sign_up(alice, server.url, "Alice")
    sign_up(bob, server.url, "Bob")
    _make_private_room(alice, server.url, "plans", "Bob")
    open_room(bob, server.url, "plans")
    say(alice, "before")
    expect(bob.locator("#messages .message .text")).to_have_text(["before"])

    alice.locator("#room-members li[data-member='Bob'] button", has_text="remove").click()
    expect(alice.locator("#room-members li[data-member='Bob']")).to_have_count(0)
    expect(bob.locator("#alert")).to_contain_text("You were removed from this room")
    expect(bob.locator("#status")).to_have_attribute("data-state", "offline")
    expect(bob.locator("#alert a")).to_have_attribute("href", "/")
    screenshot(bob, "room-removed-desktop")

    _wait_online(alice)
    say(alice, "after")
    expect(alice.locator("#messages .message .text")).to_have_text(["before", "after"])
    # Bob's page does not reconnect on its own and never sees what was said after.
    expect(bob.locator("#status")).to_have_attribute("data-state", "offline", timeout=3_000)
    assert message_texts(bob) == ["before"]
    bob.locator("#alert a").click()
    expect(bob).to_have_url(f"{server.url}/")
    expect(bob.locator("#private-room-list")).to_have_count(0)


def test_a_name_typed_before_the_page_has_started_is_added_not_lost(browsers: Browsers, server: ChatServer) -> None:
    """On a slow load a person can be in the add-member box before the page's script has run;
    its start must leave the focus there, or their Enter goes to the message box instead."""
    alice, bob = browsers.page(), browsers.page()
    sign_up(alice, server.url, "Alice")
    sign_up(bob, server.url, "Bob")
    held: list[Route] = []
    released = False

    def hold(route: Route) -> None:
        if released:
            route.continue_()
        else:
            held.append(route)

    alice.route("**/room-main.js*", hold)
    alice.goto(f"{server.url}/private/new")
    alice.fill("#new-private-room input[name=room]", "plans")
    alice.click("#new-private-room button[type=submit]")
    box = alice.locator("#add-member input[name=name]")
    box.fill("Bob")  # the page is shown, its script held back
    expect(box).to_be_focused()
    released = True
    for route in held:
        route.continue_()
    expect(alice.locator("#status")).not_to_have_attribute("data-state", "offline")  # the script ran
    expect(box).to_be_focused()
    alice.keyboard.press("Enter")
    expect(alice.locator("#room-members li[data-member='Bob']")).to_be_visible()


def test_a_deactivated_member_is_told_and_stops(browsers: Browsers, server: ChatServer) -> None:
    bob = browsers.page()
    sign_up(bob, server.url, "Bob")
    open_room(bob, server.url, "lobby")
    admin = browsers.page()
    log_in(admin, server)
    admin.goto(f"{server.url}/admin/members")
    admin.on("dialog", lambda dialog: dialog.accept())  # the confirm before deactivating
    admin.locator("#members tr[data-member='Bob'] button", has_text="Deactivate").click()
    expect(admin.locator("#members tr[data-member='Bob']")).to_have_attribute("data-status", "deactivated")
    expect(bob.locator("#alert")).to_contain_text("Your account was deactivated")
    expect(bob.locator("#status")).to_have_attribute("data-state", "offline")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_screenshots_of_the_private_room_pages(browsers: Browsers, server: ChatServer, size: str) -> None:
    viewport = DESKTOP if size == "desktop" else PHONE
    bob = browsers.page(viewport=viewport)
    sign_up(bob, server.url, "Bob")
    alice = browsers.page(viewport=viewport)
    sign_up(alice, server.url, "Alice")

    alice.goto(f"{server.url}/private/new")
    screenshot(alice, f"private-new-{size}")
    alice.fill("#new-private-room input[name=room]", "dm-nope")
    alice.click("#new-private-room button[type=submit]")
    expect(alice.locator(".form-error")).to_be_visible()
    screenshot(alice, f"private-new-error-{size}")

    _make_private_room(alice, server.url, "book-club", "Bob")
    alice.fill("#add-member input[name=name]", "Nobody")
    alice.click("#add-member button[type=submit]")
    expect(alice.locator("#room-members .form-error")).to_be_visible()
    _wait_online(alice)
    say(alice, "Next month: something short, please.")
    expect(alice.locator("#messages .message")).to_have_count(1)
    expect(alice.locator("#presence li")).to_have_text(["Alice"])
    screenshot(alice, f"room-private-{size}")
    _no_sideways_scroll(alice)

    alice.goto(f"{server.url}/dm/Bob")
    _wait_online(alice)
    say(alice, "hi Bob")
    expect(alice.locator("#messages .message")).to_have_count(1)
    expect(alice.locator("#presence li")).to_have_text(["Alice"])
    expect(alice.locator(".room-title")).to_contain_text("Bob")  # named after the other person
    screenshot(alice, f"room-dm-{size}")
    _no_sideways_scroll(alice)

    server.seed("lobby", "Uma", ["a public room"])
    alice.goto(server.url)
    expect(alice.locator("#private-room-list li")).to_have_count(1)
    expect(alice.locator("#dm-list li")).to_have_count(1)
    screenshot(alice, f"index-member-{size}")
    _no_sideways_scroll(alice)

    admin = browsers.page(viewport=viewport)
    log_in(admin, server)
    admin.goto(f"{server.url}/admin/members")
    admin.click("#join-link-form button[type=submit]")
    expect(admin.locator("#new-link")).to_be_visible()
    screenshot(admin, f"admin-join-link-{size}")
    admin.goto(f"{server.url}/admin/members")
    expect(admin.locator("#members tr")).to_have_count(3)  # the head and two members
    admin.screenshot(path=str(screenshot(admin, f"admin-members-{size}")), full_page=True)
    _no_sideways_scroll(admin)


def _no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"

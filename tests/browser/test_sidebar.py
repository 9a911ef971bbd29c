"""The sidebar in a real browser: unread counts that follow a member across two pages and two
browsers, the "new messages" divider, mentions highlighted for everyone and strongly for the
one mentioned (typed with the composer's @ list), a guest's sidebar from this browser's
memory, and screenshots at desktop and phone widths (the drawer open)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from .conftest import DESKTOP, PHONE, Browsers, ChatServer, open_room, say, screenshot, sign_up

pytestmark = pytest.mark.browser

PASSWORD = "a long enough password"


def log_in(page: Page, base_url: str, name: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(".account-name")).to_have_text(name)


def item(page: Page, room: str) -> object:
    return page.locator(f"#rooms-nav .rooms-item[data-room='{room}']")


def watch_errors(*pages: Page) -> list[str]:
    """Script errors on these pages, collected as they happen (a test asserts there were none)."""
    errors: list[str] = []
    for page in pages:
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def _no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def test_unread_counts_follow_a_member_across_two_pages_and_two_browsers(
        browsers: Browsers, server: ChatServer) -> None:
    laptop = browsers.page()
    sign_up(laptop, server.url, "Bob")
    phone = browsers.page(viewport=PHONE, is_mobile=True, has_touch=True)
    errors = watch_errors(laptop, phone)
    log_in(phone, server.url, "Bob")
    open_room(laptop, server.url, "general")  # #general joins Bob's sidebar
    open_room(laptop, server.url, "random")
    second_tab = laptop.context.new_page()
    open_room(second_tab, server.url, "support")
    open_room(phone, server.url, "random")

    server.seed("general", "Dave", ["first news", "second news", "third news"])
    for page in (laptop, second_tab, phone):
        expect(item(page, "general").locator(".rooms-unread")).to_have_text("3")
    expect(laptop).to_have_title("(3) #random · chatapp")
    expect(item(laptop, "random")).to_have_class(re.compile(r"\bcurrent\b"))

    # Reading #general on the laptop clears it on the other tab and on the phone.
    item(laptop, "general").locator(".rooms-link").click()
    expect(laptop).to_have_url(f"{server.url}/rooms/general")
    first_new = laptop.locator("#messages .message.first-unread")
    expect(first_new.locator(".text")).to_have_text("first news")
    expect(item(second_tab, "general").locator(".rooms-unread")).to_be_hidden()
    expect(item(phone, "general").locator(".rooms-unread")).to_be_hidden()
    expect(phone).to_have_title("#random · chatapp")

    # The laptop went back to #random: #general has no divider left, nothing is unread.
    laptop.goto(f"{server.url}/rooms/general")
    expect(laptop.locator("#status")).to_have_attribute("data-state", "online")
    expect(laptop.locator("#messages .message.first-unread")).to_have_count(0)
    assert errors == []


def test_activity_for_a_message_the_sidebar_counted_already_is_not_counted_again(
        browsers: Browsers, server: ChatServer) -> None:
    # The server replays what was told while a sidebar was read, less what the read counted;
    # the page holds to the same rule, so a copy that slipped through cannot count twice.
    page = browsers.page()
    sign_up(page, server.url, "Bob")
    open_room(page, server.url, "general")  # #general joins Bob's sidebar
    open_room(page, server.url, "random")  # and is read no more
    seeded = server.seed("general", "Dave", ["one", "two"])
    expect(item(page, "general").locator(".rooms-unread")).to_have_text("2")
    errors = watch_errors(page)

    def route(ws: WebSocketRoute) -> None:
        upstream = ws.connect_to_server()
        ws.on_message(upstream.send)

        def from_server(message: str | bytes) -> None:
            ws.send(message)
            frame = json.loads(message) if isinstance(message, str) else {}
            if frame.get("type") == "sidebar":  # then a copy of the newest message it counted
                ws.send(json.dumps({"type": "activity", "room": "general", "id": seeded[-1]["id"],
                                    "user": "Dave", "mention": False}))

        upstream.on_message(from_server)

    page.route_web_socket(re.compile(r"/ws/"), route)
    open_room(page, server.url, "random")
    unread = item(page, "general").locator(".rooms-unread")
    expect(unread).to_have_text("2")
    server.seed("general", "Dave", ["three"])
    expect(unread).to_have_text("3")
    assert errors == []


def test_mentions_are_highlighted_for_everyone_and_strongly_for_the_one_mentioned(
        browsers: Browsers, server: ChatServer) -> None:
    alice = browsers.page()
    sign_up(alice, server.url, "Alice")
    bob = browsers.page()
    sign_up(bob, server.url, "Bob")
    bob_elsewhere = bob.context.new_page()
    open_room(bob, server.url, "general")
    open_room(bob_elsewhere, server.url, "random")
    guest = open_room(browsers.page(), server.url, "general", "Carol")
    open_room(alice, server.url, "general")
    expect(alice.locator("#presence li")).to_have_count(3)

    box = alice.locator("#send [name=message]")
    box.click()
    box.type("Hi @b")
    choices = alice.locator("#mention-choices li")
    expect(choices).to_have_count(1)
    expect(choices.first).to_contain_text("Bob")
    box.press("Enter")  # takes the name; it does not send
    expect(box).to_have_value("Hi @Bob ")
    box.type("the build is green")
    box.press("Enter")

    for page in (alice, bob, guest):
        expect(page.locator("#messages .message .text .mention")).to_have_text(["@Bob"])
    expect(bob.locator("#messages .message.mentions-me .mention.me")).to_have_count(1)
    expect(guest.locator("#messages .message.mentions-me")).to_have_count(0)
    expect(alice.locator("#messages .mention.me")).to_have_count(0)
    # Bob's page on #general read it; with that page closed, his other page counts the next
    # mention apart from the unread messages.
    expect(item(bob_elsewhere, "general").locator(".rooms-unread")).to_be_hidden()
    bob.close()
    say(alice, "@Bob one more thing")
    say(alice, "and a last word")
    expect(item(bob_elsewhere, "general").locator(".rooms-mentions")).to_have_text("@1")
    expect(item(bob_elsewhere, "general").locator(".rooms-unread")).to_have_text("2")
    expect(bob_elsewhere.locator("#rooms-mentions-total")).to_have_text("1")


def test_a_guests_sidebar_is_the_rooms_this_browser_visited(browsers: Browsers, server: ChatServer) -> None:
    guest = browsers.page()
    errors = watch_errors(guest)
    open_room(guest, server.url, "cooking", "Erin")
    open_room(guest, server.url, "gardening")
    expect(item(guest, "cooking")).to_be_visible()
    expect(item(guest, "gardening")).to_have_class(re.compile(r"\bcurrent\b"))
    server.seed("cooking", "Dave", ["soup is ready", "and bread"])
    expect(item(guest, "cooking").locator(".rooms-unread")).to_have_text("2")
    expect(guest).to_have_title("(2) #gardening · chatapp")

    # Back in #cooking: a divider at the first message this browser had not seen.
    item(guest, "cooking").locator(".rooms-link").click()
    expect(guest.locator("#messages .message.first-unread .text")).to_have_text("soup is ready")
    guest.goto(f"{server.url}/rooms/gardening")
    expect(guest.locator("#status")).to_have_attribute("data-state", "online")
    expect(item(guest, "cooking").locator(".rooms-unread")).to_be_hidden()
    assert errors == []


def test_a_rooms_level_is_chosen_from_the_sidebar_menu(browsers: Browsers, server: ChatServer) -> None:
    bob = browsers.page()
    sign_up(bob, server.url, "Bob")
    open_room(bob, server.url, "general")
    open_room(bob, server.url, "random")
    general = item(bob, "general")
    general.hover()
    general.locator(".rooms-menu-button").click()
    menu = bob.locator("#rooms-menu")
    expect(menu).to_be_visible()
    expect(menu.locator("[aria-checked=true]")).to_have_text("Mentions only")
    menu.locator("[data-level=nothing]").click()
    expect(menu).to_be_hidden()
    expect(general).to_have_class(re.compile(r"\bmuted\b"))
    bob.reload()
    expect(item(bob, "general")).to_have_attribute("data-level", "nothing")
    server.seed("general", "Dave", ["muted news"])
    expect(item(bob, "general").locator(".rooms-unread")).to_have_text("1")
    expect(bob).to_have_title("#random · chatapp")  # a muted room stays out of the tab's count


def _busy_sidebar(browsers: Browsers, server: ChatServer, viewport: dict[str, int], phone: bool) -> Page:
    """Bob, in #release-planning, with unread messages and mentions waiting elsewhere."""
    alice = browsers.page()
    sign_up(alice, server.url, "Alice")
    bob = browsers.page(viewport=viewport, is_mobile=phone, has_touch=phone)
    sign_up(bob, server.url, "Bob")
    for room in ("design", "general", "ops", "random"):
        open_room(bob, server.url, room)
    alice.goto(f"{server.url}/dm/bob")
    expect(alice.locator("#status")).to_have_attribute("data-state", "online")
    say(alice, "Got a minute? It's about the rota.")
    alice.goto(f"{server.url}/private/new")
    alice.fill("#new-private-room input[name=room]", "launch-crew")
    alice.click("#new-private-room button[type=submit]")
    alice.fill("#add-member input[name=name]", "Bob")
    alice.locator("#add-member input[name=name]").press("Enter")
    # Added once the page lists him: navigating away sooner could drop the request.
    expect(alice.locator("#room-members li[data-member='Bob']")).to_be_visible()
    open_room(bob, server.url, "release-planning")
    server.seed("release-planning", "Carol", ["Branch is cut.", "Changelog updated — @Bob can you check it?"])
    open_room(alice, server.url, "general")
    say(alice, "@Bob the demo is at 3pm, can you join?")
    say(alice, "Slides are in the shared folder.")
    server.seed("random", "Dave", [f"lunch idea {i}" for i in range(7)])
    server.seed("ops", "Erin", ["Disk alert on db-2 cleared."])
    open_room(alice, server.url, "launch-crew")
    say(alice, "Welcome to the launch crew!")
    expect(item(bob, "random").locator(".rooms-unread")).to_have_text("7")
    expect(item(bob, "general").locator(".rooms-mentions")).to_have_text("@1")
    expect(item(bob, "launch-crew").locator(".rooms-unread")).to_have_text("1")
    expect(item(bob, "dm-1-2").locator(".rooms-unread")).to_have_text("1")
    return bob


def test_screenshot_of_the_sidebar_on_a_desktop(browsers: Browsers, server: ChatServer) -> None:
    bob = _busy_sidebar(browsers, server, DESKTOP, phone=False)
    expect(bob.locator("#rooms-nav")).to_be_in_viewport()
    expect(bob.locator("#messages .message.mentions-me")).to_have_count(1)
    _no_sideways_scroll(bob)
    screenshot(bob, "sidebar-desktop")
    item(bob, "general").locator(".rooms-link").click()
    divider = bob.locator("#messages .message.first-unread")
    expect(divider.locator(".text")).to_have_text("@Bob the demo is at 3pm, can you join?")
    expect(divider).to_have_class(re.compile(r"\bmentions-me\b"))
    expect(item(bob, "general")).to_have_class(re.compile(r"\bcurrent\b"))
    screenshot(bob, "room-divider-desktop")
    bob.goto(f"{bob.url.split('/rooms/')[0]}/mentions")
    expect(bob.locator("#mentions .result")).to_have_count(2)
    screenshot(bob, "mentions-desktop")


def test_screenshot_of_the_sidebar_drawer_on_a_phone(browsers: Browsers, server: ChatServer) -> None:
    bob = _busy_sidebar(browsers, server, PHONE, phone=True)
    expect(bob.locator("#rooms-nav")).not_to_be_in_viewport()
    expect(bob.locator("#rooms-toggle-badge")).to_be_visible()
    _no_sideways_scroll(bob)
    screenshot(bob, "sidebar-phone-closed")
    bob.click("#rooms-toggle")
    expect(bob.locator("#rooms-nav")).to_be_in_viewport(ratio=1)  # slid all the way in
    expect(bob.locator("#rooms-nav")).to_have_class(re.compile(r"\bopen\b"))
    screenshot(bob, "sidebar-phone")
    item(bob, "random").locator(".rooms-link").click()
    expect(bob).to_have_url(re.compile(r"/rooms/random$"))
    expect(bob.locator("#messages .message.first-unread .text")).to_have_text("lunch idea 0")

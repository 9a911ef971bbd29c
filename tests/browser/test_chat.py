"""The chat as people use it: two browsers in a room, history, names, hostile text, errors."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Dialog, Page, expect

from .conftest import Browsers, ChatServer, message_ids, message_texts, open_room, say

pytestmark = pytest.mark.browser


def test_what_one_person_sends_appears_once_for_the_other_within_a_second(
        browsers: Browsers, server: ChatServer) -> None:
    alice = open_room(browsers.page(), server.url, "lobby", "Alice")
    bob = open_room(browsers.page(), server.url, "lobby", "Bob")
    expect(alice.locator("#presence li")).to_have_text(["Alice", "Bob"])

    say(alice, "hello Bob")
    seen = bob.locator("#messages .message", has_text="hello Bob")
    expect(seen).to_have_count(1, timeout=1000)  # from Alice's Enter to Bob's screen

    mine = alice.locator("#messages .message", has_text="hello Bob")
    expect(mine).to_have_count(1)
    expect(seen.locator(".user")).to_have_text("Alice")
    expect(seen.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT.+Z$"))
    assert mine.get_attribute("data-id") == seen.get_attribute("data-id")
    expect(mine).to_have_class("message mine")
    # The "Sending…" placeholder goes once the server has confirmed the message.
    expect(alice.locator(".pending-message")).to_have_count(0)

    say(bob, "hi Alice")
    expect(alice.locator("#messages .message .text")).to_have_text(["hello Bob", "hi Alice"])
    expect(bob.locator("#messages .message .text")).to_have_text(["hello Bob", "hi Alice"])
    assert message_ids(alice) == message_ids(bob)


def test_shift_enter_makes_a_new_line_and_enter_sends(page: Page, server: ChatServer) -> None:
    open_room(page, server.url, "lobby", "Alice")
    box = page.locator("#send [name=message]")
    box.press_sequentially("first line")
    box.press("Shift+Enter")
    box.press_sequentially("second line")
    expect(box).to_have_value("first line\nsecond line")
    expect(page.locator("#messages .message")).to_have_count(0)
    box.press("Enter")
    expect(page.locator("#messages .message .text")).to_have_text(["first line\nsecond line"])
    expect(box).to_have_value("")


def test_history_is_rendered_on_the_server_in_order_even_without_javascript(
        browsers: Browsers, server: ChatServer) -> None:
    sent = server.seed("history", "Carol", [f"message {i}" for i in range(1, 8)])

    for js in (False, True):
        late = browsers.page(java_script_enabled=js)
        late.goto(f"{server.url}/rooms/history")
        expect(late.locator("#messages .message")).to_have_count(7)
        assert message_texts(late) == [f"message {i}" for i in range(1, 8)]
        assert message_ids(late) == [f["id"] for f in sent]
        expect(late.locator("#messages .message .user").first).to_have_text("Carol")
        if not js:
            expect(late.locator("noscript")).to_have_count(1)
            expect(late.locator("#status")).to_have_text("offline")


def test_the_index_opens_a_room_and_the_browser_remembers_the_name(
        browsers: Browsers, server: ChatServer) -> None:
    server.seed("existing", "Dave", ["first!"])
    context = browsers.context()
    page = context.new_page()
    page.goto(server.url + "/")
    expect(page.locator("#room-list [data-room=existing]")).to_contain_text("1 message")
    page.fill("input[name=room]", "Planning")
    page.fill("input[name=user]", "Erin")
    page.click("#join button[type=submit]")

    expect(page).to_have_url(f"{server.url}/rooms/planning")  # lower-cased, name out of the URL
    expect(page.locator("#status")).to_have_attribute("data-state", "online")
    expect(page.locator("#name")).to_have_value("Erin")
    expect(page.locator("#presence li")).to_have_text(["Erin"])

    # Another tab of the same browser knows the name without being told.
    again = context.new_page()
    again.goto(server.url + "/")
    expect(again.locator("input[name=user]")).to_have_value("Erin")
    open_room(again, server.url, "planning")
    expect(again.locator("#name")).to_have_value("Erin")


def test_the_name_can_be_changed_on_the_room_page(browsers: Browsers, server: ChatServer) -> None:
    context = browsers.context()
    page = open_room(context.new_page(), server.url, "lobby", "Frank")
    watcher = open_room(browsers.page(), server.url, "lobby", "Grace")
    expect(watcher.locator("#presence li")).to_have_text(["Frank", "Grace"])

    page.fill("#name", "Francesca")
    page.press("#name", "Enter")
    expect(watcher.locator("#presence li")).to_have_text(["Francesca", "Grace"])
    expect(page.locator("#status")).to_have_attribute("data-state", "online")
    say(page, "new name, same me")
    expect(watcher.locator("#messages .message .user")).to_have_text(["Francesca"])

    reloaded = context.new_page()
    reloaded.goto(server.url + "/rooms/lobby")
    expect(reloaded.locator("#name")).to_have_value("Francesca")


def test_an_invisible_character_in_a_name_is_refused_in_plain_words(
        page: Page, server: ChatServer) -> None:
    open_room(page, server.url, "lobby", "Heidi")
    page.fill("#name", "Hei\u200bdi")
    page.press("#name", "Enter")
    expect(page.get_by_role("alert")).to_contain_text("invisible")
    expect(page.locator("#status")).to_have_attribute("data-state", "online")
    say(page, "still here")
    expect(page.locator("#messages .message .user")).to_have_text(["Heidi"])


XSS_NAME = "<img src=x onerror=alert(1)>"  # 28 characters: a valid name
XSS_MESSAGES = [
    "<script>window.__pwned = 1; alert(2)</script>",
    '<img src=x onerror="window.__pwned=1; alert(3)">',
    '"><svg onload="window.__pwned=1; alert(4)">',
    "</textarea><b>bold?</b> &amp; &lt;b&gt;",
]


def test_html_in_messages_and_names_shows_as_text_and_runs_nothing(
        browsers: Browsers, server: ChatServer) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    attacker, victim, late = browsers.page(), browsers.page(), browsers.page()
    for p in (attacker, victim, late):
        p.on("dialog", on_dialog)
    open_room(attacker, server.url, "lobby", XSS_NAME)
    open_room(victim, server.url, "lobby", "Ivan")

    for text in XSS_MESSAGES:
        say(attacker, text)
    expect(victim.locator("#messages .message .text")).to_have_text(XSS_MESSAGES)
    expect(victim.locator("#messages .message .user").first).to_have_text(XSS_NAME)
    expect(victim.locator("#messages b")).to_have_count(0)
    expect(victim.locator("#presence li").filter(has_text=XSS_NAME)).to_have_count(1)

    # The same text rendered by the server's template, on a fresh page.
    late.goto(server.url + "/rooms/lobby")
    expect(late.locator("#messages .message .text")).to_have_text(XSS_MESSAGES)
    expect(late.locator("#messages .message .user").first).to_have_text(XSS_NAME)

    for p in (attacker, victim, late):
        assert p.evaluate("() => window.__pwned") is None
        expect(p.locator("#messages img, #messages svg, #messages script")).to_have_count(0)
    assert dialogs == []


def test_rooms_are_isolated(browsers: Browsers, server: ChatServer) -> None:
    red = open_room(browsers.page(), server.url, "red", "Judy")
    blue = open_room(browsers.page(), server.url, "blue", "Ken")

    say(red, "only for red")
    expect(red.locator("#messages .message .text")).to_have_text(["only for red"])
    # Ken's own message comes back through the same queue a leak would have used, after it.
    say(blue, "only for blue")
    expect(blue.locator("#messages .message .text")).to_have_text(["only for blue"])
    expect(red.locator("#messages .message .text")).to_have_text(["only for red"])
    expect(red.locator("#presence li")).to_have_text(["Judy"])
    expect(blue.locator("#presence li")).to_have_text(["Ken"])

    red.reload()
    expect(red.locator("#messages .message .text")).to_have_text(["only for red"])
    index = browsers.page()
    index.goto(server.url + "/")
    expect(index.locator("#room-list [data-room=red] .count")).to_have_text("1")
    expect(index.locator("#room-list [data-room=blue] .count")).to_have_text("1")


def test_a_message_over_the_limit_shows_an_error_and_the_page_keeps_working(
        page: Page, server: ChatServer) -> None:
    open_room(page, server.url, "lobby", "Laura")
    box = page.locator("#send [name=message]")
    # The box has no maxlength (it would cut a paste silently): the page itself refuses.
    assert box.get_attribute("maxlength") is None
    too_long = "x" * 4001
    box.fill(too_long)
    box.press("Enter")
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("limit is 4,000")
    expect(box).to_have_value(too_long)  # nothing the person typed is lost
    expect(page.locator("#messages .message")).to_have_count(0)

    say(page, "a short one")
    expect(page.locator("#messages .message .text")).to_have_text(["a short one"])
    expect(page.locator("#status")).to_have_attribute("data-state", "online")


def test_a_message_with_control_characters_is_refused_in_plain_words_and_stays_in_the_box(
        page: Page, server: ChatServer) -> None:
    open_room(page, server.url, "lobby", "Mallory")
    box = page.locator("#send [name=message]")
    box.fill("ring \u0007 the bell")
    box.press("Enter")
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("The message contains control characters.")
    expect(box).to_have_value("ring \u0007 the bell")
    expect(page.locator(".pending-message")).to_have_count(0)

    say(page, "ring the bell")
    expect(page.locator("#messages .message .text")).to_have_text(["ring the bell"])

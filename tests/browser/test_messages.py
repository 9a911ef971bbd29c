"""Richer messages in Chromium: formatting live and without JavaScript, replies, reactions,
edits and deletes seen by another member's page, and how it all looks."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from .conftest import DESKTOP, PHONE, Browsers, ChatServer, open_room, say, screenshot, sign_up

pytestmark = pytest.mark.browser

FORMATTED = "**Deploy** is _done_, see https://example.com/run/42 and run `make test`"


def message(page: Page, text: str) -> Locator:
    """The message whose own text (not a reply's quote of it) has ``text``."""
    return page.locator("#messages .message").filter(has=page.locator(".text", has_text=text))


def member_page(browsers: Browsers, server: ChatServer, name: str, **options: object) -> Page:
    page = browsers.page(**options)
    sign_up(page, server.url, name)
    open_room(page, server.url, "lobby")
    return page


def act(page: Page, text: str, action: str) -> None:
    """Hover a message and press one of its toolbar's buttons, as a person would."""
    message(page, text).hover()
    page.locator(f"#messages .message-actions .action-{action}").click()


def test_formatting_shows_the_same_live_and_without_javascript(browsers: Browsers, server: ChatServer) -> None:
    alice = member_page(browsers, server, "alice")
    bob = member_page(browsers, server, "bob")
    say(alice, FORMATTED)
    for page in (alice, bob):
        m = message(page, "Deploy")
        expect(m.locator(".text strong")).to_have_text("Deploy")
        expect(m.locator(".text em")).to_have_text("done")
        expect(m.locator(".text code")).to_have_text("make test")
        link = m.locator(".text a")
        expect(link).to_have_attribute("href", "https://example.com/run/42")
        expect(link).to_have_attribute("rel", "noopener noreferrer nofollow ugc")
        expect(link).to_have_attribute("target", "_blank")
    live_html = message(bob, "Deploy").locator(".text").inner_html()
    plain = browsers.page(java_script_enabled=False)
    plain.goto(f"{server.url}/rooms/lobby")
    expect(message(plain, "Deploy").locator(".text strong")).to_have_text("Deploy")
    assert message(plain, "Deploy").locator(".text").inner_html() == live_html


def test_a_reply_reactions_an_edit_and_a_delete_reach_the_other_page_live(
        browsers: Browsers, server: ChatServer) -> None:
    alice = member_page(browsers, server, "alice")
    bob = member_page(browsers, server, "bob")
    say(alice, "Lunch at noon?")
    expect(message(bob, "Lunch at noon?")).to_have_count(1)

    act(bob, "Lunch at noon?", "reply")
    expect(bob.locator("#reply-bar")).to_be_visible()
    expect(bob.locator("#reply-bar .reply-bar-user")).to_have_text("alice")
    say(bob, "Yes, the usual place")
    expect(bob.locator("#reply-bar")).to_be_hidden()
    quote = message(alice, "Yes, the usual place").locator(".reply-quote")
    expect(quote.locator(".reply-user")).to_have_text("alice")
    expect(quote.locator(".reply-excerpt")).to_have_text("Lunch at noon?")

    act(bob, "Lunch at noon?", "react")
    bob.locator(".emoji-palette [data-emoji='👍']").click()
    chip = message(alice, "Lunch at noon?").locator(".reaction")
    expect(chip).to_have_count(1)
    expect(chip.locator(".count")).to_have_text("1")
    expect(chip).to_have_attribute("title", "bob")
    chip.click()  # alice adds hers by clicking the chip
    expect(message(bob, "Lunch at noon?").locator(".reaction .count")).to_have_text("2")
    expect(message(alice, "Lunch at noon?").locator(".reaction")).to_have_class("reaction mine")

    # Bob cannot edit or delete alice's message: his toolbar does not offer it.
    message(bob, "Lunch at noon?").hover()
    expect(bob.locator("#messages .message-actions .action-edit")).to_be_hidden()
    expect(bob.locator("#messages .message-actions .action-delete")).to_be_hidden()

    act(alice, "Lunch at noon?", "edit")
    box = alice.locator(".edit-form textarea")
    expect(box).to_have_value("Lunch at noon?")
    box.fill("Lunch at **one**?")
    box.press("Enter")
    edited = message(bob, "Lunch at")
    expect(edited.locator(".text strong")).to_have_text("one")
    expect(edited.locator(".edited-mark")).to_be_visible()

    alice.once("dialog", lambda d: d.accept())
    act(alice, "Lunch at", "delete")
    expect(message(bob, "Lunch at")).to_have_count(0)
    expect(message(bob, "Yes, the usual place").locator(".reply-quote.deleted")).to_have_count(1)
    bob.reload()
    expect(message(bob, "Yes, the usual place").locator(".reply-excerpt")).to_have_text(
        "The original message was deleted.")


def test_a_guest_can_reply_but_is_offered_no_reactions_or_edits(browsers: Browsers, server: ChatServer) -> None:
    alice = member_page(browsers, server, "alice")
    guest = open_room(browsers.page(), server.url, "lobby", "visitor")
    say(alice, "hello all")
    message(guest, "hello all").hover()
    expect(guest.locator("#messages .message-actions .action-reply")).to_be_visible()
    expect(guest.locator("#messages .message-actions .action-react")).to_be_hidden()
    expect(guest.locator("#messages .message-actions .action-edit")).to_be_hidden()
    expect(guest.locator("#messages .message-actions .action-delete")).to_be_hidden()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_screenshot_of_a_room_with_formatting_a_reply_and_reactions(
        browsers: Browsers, server: ChatServer, size: str) -> None:
    viewport = DESKTOP if size == "desktop" else PHONE
    alice = member_page(browsers, server, "alice", viewport=viewport)
    bob = member_page(browsers, server, "bob")
    say(bob, "Release checklist for **v2.0**:\n- tests green\n- `CHANGELOG.md` updated\n- tag pushed")
    say(alice, "> tests green\n\nAll 600 of them, see https://ci.example.com/builds/1234")
    expect(message(bob, "All 600")).to_have_count(1)
    act(bob, "All 600", "reply")
    say(bob, "Great, shipping it ~~tomorrow~~ today 🚀")
    for emoji in ("🎉", "👍"):
        act(bob, "All 600", "react")
        bob.locator(f".emoji-palette [data-emoji='{emoji}']").click()
        expect(message(bob, "All 600").locator(f".reaction[data-emoji='{emoji}']")).to_have_count(1)
    expect(message(alice, "All 600").locator(".reaction")).to_have_count(2)
    expect(message(alice, "shipping it").locator(".reply-quote")).to_have_count(1)
    alice.locator(".upload-input").set_input_files(
        files=[{"name": "release-graph.png", "mimeType": "image/png", "buffer": _chart_png()}])
    thumb = message(bob, "release-graph.png").locator(".attachment-image img")
    expect(thumb).to_be_visible()
    expect(message(bob, "release-graph.png").locator(".text")).to_be_hidden()  # the name is the caption
    alice.locator(".upload-input").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"release notes\n" * 200}])
    expect(message(alice, "notes.txt").locator(".attachment-file .attachment-size")).to_have_text("2.8 kB")
    assert bob.evaluate("img => img.complete && img.naturalWidth > 0", thumb.element_handle())
    alice.mouse.move(0, 0)
    screenshot(alice, f"messages-{size}")


def _chart_png() -> bytes:
    """A small bar chart, as someone would share a screenshot."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 360), "#f8fafc")
    draw = ImageDraw.Draw(image)
    for i, h in enumerate((120, 180, 90, 240, 300, 210)):
        draw.rectangle((60 + i * 95, 330 - h, 120 + i * 95, 330), fill="#6366f1")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()

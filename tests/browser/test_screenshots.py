"""Screenshots of the pages at desktop and phone widths, into tests/screenshots/ (git-ignored).

They are for people to look at; the assertions only check that each page is laid out
without sideways scrolling and with its main parts on screen.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .conftest import DESKTOP, PHONE, Browsers, ChatServer, open_room, say, screenshot

pytestmark = pytest.mark.browser

CONVERSATION = [
    ("Alice", "Morning all! Is the release still on for Thursday?"),
    ("Bob", "Yes. I'm cutting the branch this afternoon."),
    ("Carol", "Great. I'll update the changelog.\nAlso: the migration note needs a line about backups."),
    ("Alice", "Thanks both!"),
    ("Alice", "I will be around all day if anything breaks."),
    ("Bob", ("One more thing — the staging database is at "
             "https://staging.example.org/a/very/long/path/that/should/wrap/instead/of/overflowing")),
]


def _no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_screenshots_of_the_index_and_a_room(browsers: Browsers, server: ChatServer, size: str) -> None:
    viewport = DESKTOP if size == "desktop" else PHONE
    for user, text in CONVERSATION:
        server.seed("release-planning", user, [text])
    server.seed("random", "Dave", ["Anyone up for lunch?", "The new coffee machine works."])
    server.seed("support", "Erin", ["Ticket 1234 is fixed."])

    index = browsers.page(viewport=viewport)
    index.goto(server.url + "/")
    expect(index.locator("#room-list .room-item")).to_have_count(3)
    _no_sideways_scroll(index)
    screenshot(index, f"index-{size}")

    bob = open_room(browsers.page(), server.url, "release-planning", "Bob")
    alice = open_room(browsers.page(viewport=viewport, is_mobile=size == "phone", has_touch=size == "phone"),
                      server.url, "release-planning", "Alice")
    say(bob, "Pushed the branch; CI is running.")
    expect(alice.locator("#messages .message")).to_have_count(len(CONVERSATION) + 1)
    expect(alice.locator("#presence li")).to_have_text(["Alice", "Bob"])
    alice.locator("#send [name=message]").fill("Looks good from here")
    expect(alice.locator("#messages .message").last).to_be_in_viewport()
    expect(alice.locator("#send")).to_be_in_viewport()
    _no_sideways_scroll(alice)
    screenshot(alice, f"room-{size}")

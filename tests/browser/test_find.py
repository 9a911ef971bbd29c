"""Finding people and words as a person does: who is here, who is typing, and search.

Each test asks for ``server`` before the browser fixtures, so its pages close before the
server stops: a page still connected makes the server's shutdown wait ~2 s for it.
"""

from __future__ import annotations

import re
import urllib.parse

import pytest
from playwright.sync_api import Page, expect

from .conftest import DESKTOP, PHONE, Browsers, ChatServer, open_room, screenshot

pytestmark = pytest.mark.browser

CAFE = "Café au lait, s'il vous plaît"
CJK = "今日は東京で会議"


def _search_from_the_top_bar(page: Page, text: str) -> int:
    """Type ``text`` into the top bar's search box, press Enter; the results page's status."""
    box = page.locator(".topbar-search input[name=q]")
    box.fill(text)
    with page.expect_response(lambda r: urllib.parse.urlsplit(r.url).path == "/search") as info:
        box.press("Enter")
    page.wait_for_load_state("domcontentloaded")
    return info.value.status


def _no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def test_everyone_in_a_room_sees_who_is_here_and_who_left(
        server: ChatServer, browsers: Browsers) -> None:
    alice = open_room(browsers.page(), server.url, "lobby", "Alice")
    expect(alice.locator("#presence li")).to_have_text(["Alice"])
    expect(alice.locator("#presence-count")).to_have_text("(1)")

    bob = open_room(browsers.page(), server.url, "lobby", "Bob")
    for page in (alice, bob):
        expect(page.locator("#presence li")).to_have_text(["Alice", "Bob"])
        expect(page.locator("#presence-count")).to_have_text("(2)")

    bob.close()
    expect(alice.locator("#presence li")).to_have_text(["Alice"])
    expect(alice.locator("#presence-count")).to_have_text("(1)")


def test_typing_shows_to_the_others_and_clears_when_the_message_arrives(
        server: ChatServer, browsers: Browsers) -> None:
    alice = open_room(browsers.page(), server.url, "lobby", "Alice")
    bob_page = browsers.page()
    # Bob's timers are under the test's control, so the line can only clear because the
    # message arrived, never because its few seconds ran out.
    bob_page.clock.install()
    bob = open_room(bob_page, server.url, "lobby", "Bob")
    expect(alice.locator("#presence li")).to_have_text(["Alice", "Bob"])
    expect(bob.locator("#typing")).to_have_text("")

    alice.locator("#send [name=message]").press_sequentially("on my way")
    expect(bob.locator("#typing")).to_have_text("Alice is typing…")
    expect(alice.locator("#typing")).to_have_text("")  # nobody is told about their own typing
    bob.clock.pause_at(bob.evaluate("() => Date.now()") + 1000)

    alice.locator("#send [name=message]").press("Enter")
    expect(bob.locator("#messages .message .text")).to_have_text(["on my way"])
    expect(bob.locator("#typing")).to_have_text("")
    bob.clock.resume()


def test_search_from_the_top_bar_finds_words_without_their_accents_and_opens_the_message(
        server: ChatServer, page: Page) -> None:
    server.seed("kitchen", "Alice", [f"kitchen note {i}" for i in range(30)])
    (cafe,) = server.seed("kitchen", "Bob", [CAFE])
    server.seed("kitchen", "Alice", [f"later note {i}" for i in range(60)])
    (cjk,) = server.seed("travel", "Kenji", [CJK])
    server.seed("travel", "Kenji", ["see you at the station"])

    page.goto(server.url + "/")
    assert _search_from_the_top_bar(page, "cafe") == 200
    expect(page).to_have_url(re.compile(r"/search\?q=cafe$"))
    results = page.locator("#results .result")
    expect(results).to_have_count(1)
    hit = results.first
    expect(hit).to_have_attribute("data-id", str(cafe["id"]))
    expect(hit.locator(".result-text")).to_have_text(CAFE)
    expect(hit.locator(".result-text mark")).to_have_text(["Café"])  # as written, not as typed
    expect(hit.locator(".room-name")).to_have_text("#kitchen")
    expect(hit.locator(".user")).to_have_text("Bob")
    expect(page.locator(".search-form input[name=q]")).to_have_value("cafe")

    hit.locator(".result-link").click()
    expect(page).to_have_url(f"{server.url}/rooms/kitchen?at={cafe['id']}")
    expect(page.locator("#status")).to_have_attribute("data-state", "online")
    expect(page.locator(".message.highlight")).to_have_count(1)
    expect(page.locator(f".message.highlight[data-id='{cafe['id']}'] .text")).to_have_text(CAFE)

    assert _search_from_the_top_bar(page, "東京") == 200
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("data-id", str(cjk["id"]))
    expect(results.first.locator(".result-text mark")).to_have_text(["東京"])
    expect(results.first.locator(".room-name")).to_have_text("#travel")
    results.first.locator(".result-link").click()
    expect(page.locator(f".message.highlight[data-id='{cjk['id']}'] .text")).to_have_text(CJK)


def test_a_message_opened_from_search_stays_in_view_while_newer_ones_load(
        server: ChatServer, page: Page) -> None:
    server.seed("kitchen", "Alice", [f"kitchen note {i}" for i in range(30)])
    (cafe,) = server.seed("kitchen", "Bob", [CAFE])
    server.seed("kitchen", "Alice", [f"later note {i}" for i in range(60)])

    page.goto(f"{server.url}/search?q=cafe")
    page.locator("#results .result-link").click()
    expect(page.locator("#status")).to_have_attribute("data-state", "online")
    # Everything newer has arrived over the socket: the page will not move on its own again.
    expect(page.locator("#messages .message .text").last).to_have_text("later note 59")
    marked = page.locator(f".message.highlight[data-id='{cafe['id']}']")
    expect(marked).to_be_in_viewport(timeout=2000)


@pytest.mark.parametrize("query", ['"NEAR(', "cafe' OR 1=1 --", "<b>*</b> AND \"x"])
def test_a_search_that_looks_like_syntax_gives_a_normal_page(
        server: ChatServer, page: Page, query: str) -> None:
    server.seed("kitchen", "Bob", [CAFE])
    page.goto(server.url + "/")
    status = _search_from_the_top_bar(page, query)
    assert status in (200, 400), f"{query!r} gave HTTP {status}"
    expect(page.locator("h1")).to_have_text("Search messages")
    expect(page.locator(".search-form input[name=q]")).to_have_value(query)
    expect(page.locator("#results .result")).to_have_count(0)
    if status == 200:
        expect(page.locator("#no-results")).to_contain_text(query.strip())
    else:
        expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator("main b")).to_have_count(0)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_screenshots_of_the_search_results(server: ChatServer, browsers: Browsers, size: str) -> None:
    server.seed("kitchen", "Bob", [CAFE, "Who took the last cafetière?"])
    server.seed("release-planning", "Alice", [
        "Coffee first, then the release: meet at the café downstairs at ten.",
        ("Long one, to see the context cut: " + "we went over every step of the rollout plan, " * 4
         + "and then agreed the CAFE meeting is the place to decide. " + "More words after it. " * 8),
    ])
    server.seed("travel", "Kenji", [CJK, "https://example.org/a/very/long/path/cafe/that/should/wrap/not/overflow"])

    page = browsers.page(viewport=DESKTOP if size == "desktop" else PHONE)
    page.goto(server.url + "/")
    assert _search_from_the_top_bar(page, "cafe") == 200
    expect(page.locator("#results .result")).to_have_count(5)
    expect(page.locator(".result-count")).to_have_text("5 messages, newest first")
    expect(page.locator("#results .result").first.locator(".result-text")).to_contain_text("wrap")
    _no_sideways_scroll(page)
    expect(page.locator(".search-form button[type=submit]")).to_be_in_viewport()
    expect(page.locator(".topbar-search")).to_be_hidden()  # the page's own form is the one to use
    screenshot(page, f"search-{size}")

"""Notifications in Chromium: the bell's states, a permission asked for only on a click (and
what a refusal says), turning push on and off, and the notifications a page shows while its
tab is in the background, which open their message when clicked.

Headless Chromium has no push service to subscribe with (and none in an incognito context
at all), so :data:`FAKE_PUSH_SERVICE` stands in for the browser's ``PushManager`` in the
test that turns push on: what is checked is what our page does with a subscription, and
that the server keeps it. Delivery itself is tests/test_push.py's, with real encryption.
Two more stand-ins, for what a test cannot make a headless browser do: ``document.
visibilityState`` says what the test wants (a tab in the background), and notifications the
page shows are recorded as well as shown.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from ..push_service import Browser as PushKeys
from .conftest import DESKTOP, PHONE, Browsers, ChatServer, open_room, say, screenshot, sign_up

pytestmark = pytest.mark.browser

COUNT_ASKS = """
window.__asked = 0;
{
  const ask = Notification.requestPermission.bind(Notification);
  Notification.requestPermission = (...args) => { window.__asked += 1; return ask(...args); };
}
"""

BACKGROUND_AND_RECORDED = """
window.__hidden = false;
window.__shown = [];
Object.defineProperty(Document.prototype, "visibilityState", {
  configurable: true, get() { return window.__hidden ? "hidden" : "visible"; },
});
{
  const Shown = window.Notification;
  window.Notification = class extends Shown {
    constructor(title, options = {}) {
      super(title, options);
      const url = options.data && options.data.url;
      window.__shown.push({ title, body: options.body, tag: options.tag, url, notification: this });
    }
  };
}
"""

FAKE_PUSH_SERVICE = """
{
  const keys = %s;
  let current = null;
  PushManager.prototype.subscribe = async function (options) {
    const endpoint = "https://push.example.com/fake/" + Math.random().toString(36).slice(2);
    current = {
      endpoint, options: { applicationServerKey: options.applicationServerKey.buffer },
      toJSON() { return { endpoint, expirationTime: null, keys }; },
      async unsubscribe() { current = null; return true; },
    };
    return current;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
}
"""


def state(page: Page) -> Any:
    return expect(page.locator("#notify-control"))


def open_panel(page: Page) -> None:
    page.click("#notify-toggle")
    expect(page.locator("#notify-panel")).to_be_visible()


def subscriptions(server: ChatServer) -> list[tuple[str, str]]:
    assert server.db is not None
    with sqlite3.connect(server.db) as conn:
        return conn.execute("SELECT m.name, p.endpoint FROM push_subscriptions p "
                            "JOIN members m ON m.id = p.member_id").fetchall()


def shown(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        "window.__shown.map(({ title, body, tag, url }) => ({ title, body, tag, url }))")
    return found


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_notifications_are_asked_for_only_on_a_click_and_a_refusal_says_how_to_allow_them(
        browsers: Browsers, server: ChatServer, size: str) -> None:
    page = browsers.page(viewport=DESKTOP if size == "desktop" else PHONE)
    page.add_init_script(COUNT_ASKS)
    sign_up(page, server.url, "bob")
    open_room(page, server.url, "lobby")
    state(page).to_have_attribute("data-state", "off")
    expect(page.locator("#notify-toggle")).to_have_attribute("aria-label", "Notifications: off")
    expect(page.locator("#notify-toggle")).to_be_in_viewport()
    screenshot(page, f"notifications-bell-{size}")
    open_panel(page)
    expect(page.locator("#notify-state")).to_have_text("Notifications are off in this browser.")
    expect(page.locator("#notify-on")).to_be_visible()
    assert page.evaluate("window.__asked") == 0  # nothing asked on load
    screenshot(page, f"notifications-off-{size}")
    page.click("#notify-on")  # headless Chromium refuses, as a person clicking "Block" does
    state(page).to_have_attribute("data-state", "blocked")
    assert page.evaluate("window.__asked") == 1
    expect(page.locator("#notify-state")).to_have_text("Notifications are blocked by this browser.")
    expect(page.locator("#notify-help")).to_contain_text("set Notifications to Allow")
    expect(page.locator("#notify-on")).to_be_hidden()
    screenshot(page, f"notifications-blocked-{size}")
    page.keyboard.press("Escape")
    expect(page.locator("#notify-panel")).to_be_hidden()
    assert subscriptions(server) == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_turning_notifications_on_subscribes_this_browser_and_turning_them_off_unsubscribes_it(
        browsers: Browsers, server: ChatServer, size: str) -> None:
    page = browsers.page(viewport=DESKTOP if size == "desktop" else PHONE)
    keys = PushKeys().subscription("")["keys"]
    page.add_init_script(COUNT_ASKS + FAKE_PUSH_SERVICE % json.dumps(keys))
    sign_up(page, server.url, "bob")
    open_room(page, server.url, "lobby")
    state(page).to_have_attribute("data-state", "off")
    page.context.grant_permissions(["notifications"], origin=server.url)  # what "Allow" would do
    open_panel(page)
    page.click("#notify-on")
    state(page).to_have_attribute("data-state", "on")
    expect(page.locator("#notify-state")).to_have_text("Notifications are on in this browser.")
    expect(page.locator("#notify-off")).to_be_visible()
    assert page.evaluate("window.__asked") == 1
    assert page.evaluate("navigator.serviceWorker.getRegistration('/').then(r => !!r && r.scope)") \
        == server.url + "/"
    ((name, endpoint),) = subscriptions(server)
    assert name == "bob" and endpoint.startswith("https://push.example.com/fake/")
    screenshot(page, f"notifications-on-{size}")
    page.click("#notify-off")
    state(page).to_have_attribute("data-state", "off")
    assert subscriptions(server) == []
    page.reload()  # turned off stays off, though the browser still allows them
    state(page).to_have_attribute("data-state", "off")
    assert page.evaluate("Notification.permission") == "granted" and subscriptions(server) == []


def test_a_browser_that_refuses_push_is_still_notified_while_a_tab_is_open(
        browsers: Browsers, server: ChatServer) -> None:
    context = browsers.context()
    context.grant_permissions(["notifications"], origin=server.url)
    page = context.new_page()
    page.add_init_script(COUNT_ASKS)
    sign_up(page, server.url, "bob")
    open_room(page, server.url, "lobby")
    # Allowed for the site already (by someone else, say), but not turned on by bob: off.
    state(page).to_have_attribute("data-state", "off")
    open_panel(page)
    page.click("#notify-on")  # asks nothing of a person who allowed them already
    state(page).to_have_attribute("data-state", "tab-only")  # an incognito context: Chromium has no push
    expect(page.locator("#notify-state")).to_have_text("Notifications are on while chatapp is open.")
    expect(page.locator("#notify-help")).to_contain_text("nothing arrives once every chatapp tab is closed")
    expect(page.locator("#notify-off")).to_be_visible()
    screenshot(page, "notifications-tab-only-desktop")
    page.reload()
    state(page).to_have_attribute("data-state", "tab-only")  # kept for bob in this browser


def _member_in_background(browsers: Browsers, server: ChatServer, name: str) -> Page:
    """A member who allowed notifications and turned them on, with a tab the test can hide."""
    context = browsers.context()
    context.grant_permissions(["notifications"], origin=server.url)
    page = context.new_page()
    page.add_init_script(BACKGROUND_AND_RECORDED)
    sign_up(page, server.url, name)
    open_room(page, server.url, "lobby")
    open_panel(page)
    page.click("#notify-on")
    state(page).to_have_attribute("data-state", "tab-only")
    page.keyboard.press("Escape")
    return page


def test_a_mention_while_the_tab_is_in_the_background_shows_a_notification_that_opens_the_message(
        browsers: Browsers, server: ChatServer) -> None:
    bob = _member_in_background(browsers, server, "bob")
    alice = browsers.page()
    sign_up(alice, server.url, "alice")
    open_room(bob, server.url, "lobby")
    open_room(alice, server.url, "lobby")
    say(alice, "shown while bob looks")
    say(bob, "and bob's own @bob")
    expect(bob.locator("#messages .message")).to_have_count(2)
    bob.evaluate("window.__hidden = true")
    say(alice, "nothing for bob here")
    say(alice, "@bob have a look at this")
    expect(bob.locator("#messages .message")).to_have_count(4)
    mention_id = bob.locator("#messages .message").last.get_attribute("data-id")
    assert shown(bob) == [{"title": "alice mentioned you in #lobby", "body": "@bob have a look at this",
                           "tag": "chatapp:lobby", "url": f"/rooms/lobby?at={mention_id}"}]
    bob.evaluate("window.__hidden = false")
    say(alice, "@bob and now you are looking")
    expect(bob.locator("#messages .message")).to_have_count(5)
    assert len(shown(bob)) == 1
    bob.evaluate("window.__shown[0].notification.dispatchEvent(new Event('click'))")
    expect(bob.locator(f"#m{mention_id}")).to_have_class(re.compile(r"\bhighlight\b"))
    expect(bob).to_have_url(re.compile(r"/rooms/lobby$"))  # opened in place: the page and its socket stay


def test_a_room_set_to_nothing_shows_no_notification_in_the_background(
        browsers: Browsers, server: ChatServer) -> None:
    bob = _member_in_background(browsers, server, "bob")
    alice = browsers.page()
    sign_up(alice, server.url, "alice")
    open_room(alice, server.url, "lobby")
    token = bob.locator("#rooms-nav").get_attribute("data-token")
    chose = bob.request.post(f"{server.url}/rooms/lobby/notifications", form={"level": "nothing"},
                             headers={"X-CSRF-Token": token or "", "Origin": server.url})
    assert chose.ok, chose.text()
    open_room(bob, server.url, "lobby")  # the sidebar shows the level now
    expect(bob.locator("#rooms-nav .rooms-item.current")).to_have_attribute("data-level", "nothing")
    bob.evaluate("window.__hidden = true")
    say(alice, "@bob you will not hear this")
    expect(bob.locator("#messages .message")).to_have_count(1)
    assert shown(bob) == []


def test_a_direct_message_while_the_tab_is_in_the_background_shows_a_notification(
        browsers: Browsers, server: ChatServer) -> None:
    bob = _member_in_background(browsers, server, "bob")
    alice = browsers.page()
    sign_up(alice, server.url, "alice")
    alice.goto(f"{server.url}/dm/bob")
    expect(alice.locator("#status")).to_have_attribute("data-state", "online")
    room = alice.url.rsplit("/rooms/", 1)[1]
    open_room(bob, server.url, room)
    bob.evaluate("window.__hidden = true")
    say(alice, "lunch at noon?")
    expect(bob.locator("#messages .message")).to_have_count(1)
    message_id = bob.locator("#messages .message").last.get_attribute("data-id")
    assert shown(bob) == [{"title": "alice (direct message)", "body": "lunch at noon?",
                           "tag": f"chatapp:{room}", "url": f"/rooms/{room}?at={message_id}"}]

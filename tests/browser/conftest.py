"""Browser-test fixtures: Chromium through Playwright, the real server as a subprocess, a cuttable relay.

One Chromium runs for the whole session (launching it costs about a second); every test
gets a fresh browser context, its own server process on a free port (started by
:class:`tests.server.ServerProcess`, as every test and the benchmark start one) and its own
SQLite file under ``tmp_path``. Chromium is found by path because Playwright's own browser
download is not reachable from these machines. Without a Chromium the tests skip with a
reason, except under CI (``CI`` set), where a missing browser is a failure.

``TcpRelay`` sits between a page and the server so a test can drop every connection for
real: ``context.set_offline(True)`` only holds WebSocket frames back in Chromium, it
never closes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ..server import UNLIMITED, ServerProcess

try:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        Page,
        Playwright,
        expect,
        sync_playwright,
    )
except ImportError:  # pragma: no cover - only on a machine installed without the test extra
    sync_playwright = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "tests" / "screenshots"
ADMIN_PASSWORD = "correct horse battery staple"
SERVER_ENV = {**UNLIMITED, "CHATAPP_ADMIN_PASSWORD": ADMIN_PASSWORD, "CHATAPP_SHUTDOWN_TIMEOUT": "4"}
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

if sync_playwright is not None:
    # A server on 2 busy cores can take a moment; a real failure still ends well inside a minute.
    expect.set_options(timeout=10_000)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the browser tests may not be skipped)", pytrace=False)
    pytest.skip(reason)


def find_chromium() -> str | None:
    """``CHATAPP_CHROMIUM`` if set, else the first Chromium-like browser on PATH."""
    override = os.environ.get("CHATAPP_CHROMIUM")
    if override:
        return override
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


# ---------------------------------------------------------------- the browser

def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests after every other test.

    The sync Playwright API keeps an event loop running on the main thread for as long as
    it is open, and the whole session shares one; a pytest-asyncio test that ran after it
    would find a loop already running and fail.
    """
    browser_tests = [i for i in items if i.get_closest_marker("browser")]
    others = [i for i in items if not i.get_closest_marker("browser")]
    items[:] = others + browser_tests

@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if sync_playwright is None:
        _unavailable("Playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    path = find_chromium()
    if path is None:
        _unavailable("no Chromium found: install Debian's chromium package, or set "
                     "CHATAPP_CHROMIUM to a Chromium or Chrome binary")
    assert path is not None
    if not Path(path).exists():
        _unavailable(f"CHATAPP_CHROMIUM points at {path}, which does not exist")
    browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


class Browsers:
    """Makes fresh contexts (one per person) and closes them all when the test ends."""

    def __init__(self, browser: Browser) -> None:
        self._browser = browser
        self._contexts: list[BrowserContext] = []

    def context(self, **options: Any) -> BrowserContext:
        options.setdefault("viewport", DESKTOP)
        context = self._browser.new_context(**options)
        self._contexts.append(context)
        return context

    def page(self, **options: Any) -> Page:
        return self.context(**options).new_page()

    def close(self) -> None:
        for context in self._contexts:
            context.close()


@pytest.fixture
def browsers(browser: Browser) -> Iterator[Browsers]:
    b = Browsers(browser)
    yield b
    b.close()


@pytest.fixture
def page(browsers: Browsers) -> Page:
    return browsers.page()


# ---------------------------------------------------------------- the server

class ChatServer(ServerProcess):
    """``python -m chatapp`` on a fixed port and database file; stoppable, restartable, seedable.

    :meth:`stop` sends SIGTERM and returns the exit status: a graceful shutdown must end on
    its own, with status 0.
    """

    def seed(self, room: str, user: str, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Post ``texts`` over a plain WebSocket and return the stored chat frames, in order.

        aiohttp runs on its own loop in a worker thread: the sync Playwright API owns the
        test thread's event loop.
        """
        result: list[dict[str, Any]] = []
        error: list[BaseException] = []
        batch = uuid.uuid4().hex  # client_ids de-duplicate per room: each call needs fresh ones

        async def post() -> None:
            import aiohttp

            async with (aiohttp.ClientSession() as session,
                        session.ws_connect(f"{self.url}/ws/{room}", params={"user": user}) as ws):
                for i, text in enumerate(texts):
                    await ws.send_str(json.dumps({"message": text, "client_id": f"{batch}-{i}"}))
                async with asyncio.timeout(20):
                    while len(result) < len(texts):
                        frame = json.loads((await ws.receive()).data)
                        if frame["type"] == "chat":
                            result.append(frame)
                        elif frame["type"] == "error":
                            raise AssertionError(f"seeding failed: {frame}")

        def run() -> None:
            try:
                asyncio.run(post())
            except BaseException as exc:
                error.append(exc)

        worker = threading.Thread(target=run, name="seed")
        worker.start()
        worker.join(30)
        assert not worker.is_alive(), "seeding did not finish within 30s"
        if error:
            raise error[0]
        return result


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChatServer]:
    s = ChatServer.chatapp(tmp_path / "chat.db", SERVER_ENV, log_path=tmp_path / "server.log", cwd=ROOT)
    s.start()
    yield s
    # Captured by pytest and shown only when the test fails.
    print(f"---- server log ({s.log_path}) ----\n{s.log()}")
    assert s.stop() == 0, f"the server did not exit cleanly on SIGTERM:\n{s.log(40)}"


# ---------------------------------------------------------------- the relay

class TcpRelay:
    """A TCP forwarder on its own port; ``cut()`` drops every connection, ``restore()`` heals.

    While cut, new connections are accepted and closed at once, so a page sees its
    reconnect attempts fail the way they do when a network goes away.
    """

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._cut = False
        self._closed = False
        self._accepter = threading.Thread(target=self._accept, name="relay-accept", daemon=True)
        self._accepter.start()

    def _spawn(self, target: Any, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(t)
        t.start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return  # listener closed
            if self._cut or self._closed:
                _kill(downstream)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _kill(downstream)
                continue
            with self._lock:
                if self._cut or self._closed:
                    _kill(downstream)
                    _kill(upstream)
                    continue
                self._sockets.update((downstream, upstream))
            self._spawn(self._pump, downstream, upstream)
            self._spawn(self._pump, upstream, downstream)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        # Either side ending ends the pair: a half-open relay would hide a drop.
        with self._lock:
            for s in (src, dst):
                if s in self._sockets:
                    self._sockets.discard(s)
                    _kill(s)

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            doomed, self._sockets = self._sockets, set()
        for s in doomed:
            _kill(s)

    def restore(self) -> None:
        self._cut = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()
        self._accepter.join(5)
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(5)


def _kill(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)  # wakes a pump blocked in recv()
    s.close()


@pytest.fixture
def relay(server: ChatServer) -> Iterator[TcpRelay]:
    r = TcpRelay(server.port)
    yield r
    r.close()


# ---------------------------------------------------------------- page helpers

def open_room(page: Page, base_url: str, room: str, user: str | None = None) -> Page:
    """Open a room page and wait until its socket is up; a name given here is kept, as a
    person who chose it on the index page has it kept."""
    page.goto(f"{base_url}/rooms/{room}" + (f"?user={urllib.parse.quote(user)}" if user else ""))
    expect(page.locator("#status")).to_have_attribute("data-state", "online")
    if page.locator("#name-prompt").is_visible():
        page.click("#name-keep")
        expect(page.locator("#name-prompt")).to_be_hidden()
    return page


def sign_up(page: Page, base_url: str, name: str, password: str = "a long enough password") -> None:
    page.goto(f"{base_url}/signup")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page.locator(".account-name")).to_have_text(name)


def say(page: Page, text: str) -> None:
    """Type a message the way a person does and press Enter."""
    box = page.locator("#send [name=message]")
    box.fill(text)
    box.press("Enter")


def message_texts(page: Page) -> list[str]:
    return page.locator("#messages .message .text").all_text_contents()


def message_ids(page: Page) -> list[int]:
    return [int(i) for i in page.locator("#messages .message").evaluate_all(
        "els => els.map(e => e.dataset.id)")]


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path

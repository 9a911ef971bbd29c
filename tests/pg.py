"""A throwaway PostgreSQL server for tests: one per test session, one database per test.

:class:`PostgresServer` runs Debian's PostgreSQL binaries in a temporary directory on a free
loopback port (as the ``postgres`` user when we are root, because ``initdb`` and
``postgres`` refuse to run as root), with durability off (``fsync``, ``synchronous_commit``):
a test server that loses its data on a power cut loses nothing anyone needs, and runs the
suite several times faster. ``pg_ctl start -w`` and ``stop`` do the waiting, so nothing here
sleeps. :meth:`PostgresServer.template` migrates a template database once;
:meth:`PostgresServer.fresh_database` copies it for one test (``CREATE DATABASE … TEMPLATE``
copies files, far faster than migrating again) and :meth:`drop_database` removes it.

Where PostgreSQL is not installed, :func:`postgres_bin` is None and the tests that need it
skip saying so, except under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from .server import free_port

T = TypeVar("T")

BIN_GLOB = "/usr/lib/postgresql/*/bin"  # Debian's layout, one folder per major version
TEMPLATE = "chatapp_template"
START_TIMEOUT = 60  # seconds pg_ctl waits for the server to accept connections
NOT_INSTALLED = "PostgreSQL not installed (apt-get install postgresql)"


def postgres_bin() -> Path | None:
    """The directory with initdb, pg_ctl and postgres, or None when PostgreSQL is not installed."""
    override = os.environ.get("CHATAPP_PG_BIN")
    installed = sorted(glob.glob(BIN_GLOB), key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                       else 0, reverse=True)
    for folder in ([override] if override else []) + installed:
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to the end on a loop of its own in another thread: usable from sync
    fixtures without touching the event loop pytest-asyncio gives the test."""
    result: list[T] = []
    error: list[BaseException] = []

    def go() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:  # handed to the caller's thread
            error.append(exc)

    thread = threading.Thread(target=go)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


class PostgresServer:
    """One PostgreSQL server in a directory of its own, on a loopback port."""

    def __init__(self, bin_dir: Path, root: Path | None = None, *, user: str = "postgres") -> None:
        self.bin = bin_dir
        self.root = Path(root or tempfile.mkdtemp(prefix="chatapp-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log_path = self.root / "postgres.log"
        self.port = free_port()
        self.user = user  # the database superuser the tests connect as
        self._counter = 0
        self._lock = threading.Lock()
        # initdb and postgres refuse root: when we are root they run as the postgres user.
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *cmd: str) -> None:
        done = subprocess.run([*self._as, *cmd], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")

    def start(self) -> None:
        """initdb (the first time) and start the server; returns once it accepts connections."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if self._as:
            owner = pwd.getpwnam("postgres")
            for path in (self.root, self.sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            os.chmod(self.root, 0o755)
        if not self.data.exists():
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust",
                      "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
        options = " ".join([
            f"-p {self.port}", f"-k {self.sockets}", "-c listen_addresses=127.0.0.1",
            # Speed over durability: a test server's data is thrown away anyway.
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
            "-c max_connections=300", "-c shared_buffers=64MB",
        ])
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path), "-w",
                  "-t", str(START_TIMEOUT), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``immediate`` is a crash, as kill -9 of its processes would be)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        try:
            self.stop("immediate")
        except RuntimeError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    async def admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def template(self) -> None:
        """Create the template database and migrate it, as the app would at start-up."""
        from chatapp.storage.postgres import PostgresStorage

        async def make() -> None:
            await self.admin(f"CREATE DATABASE {TEMPLATE}")
            storage = await PostgresStorage.open(self.url(TEMPLATE))
            await storage.close()
        run_async(make())

    def new_name(self) -> str:
        with self._lock:
            self._counter += 1
            return f"t_{os.getpid()}_{self._counter}"

    def fresh_database(self, template: str = TEMPLATE) -> str:
        """A new database copied from the template; its URL."""
        name = self.new_name()
        run_async(self.admin(f"CREATE DATABASE {name} TEMPLATE {template}"))
        return self.url(name)

    def empty_database(self) -> str:
        """A new database with no schema at all (for migration tests); its URL."""
        name = self.new_name()
        run_async(self.admin(f"CREATE DATABASE {name} TEMPLATE template0"))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        run_async(self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


# ---- pytest: one server per session, one database per test ----------------------------------

ON_POSTGRES = os.environ.get("CHATAPP_TEST_BACKEND", "sqlite").strip().lower() == "postgres"
# The SQLite path a test's settings name -> the PostgreSQL database it really uses, so that
# helpers handed ``settings.db`` (db_execute) reach the database the app uses.
DATABASES: dict[str, str] = {}


def require_postgres() -> Path:
    """The binaries' directory; skips the test where PostgreSQL is missing, fails under CI."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail(f"{NOT_INSTALLED}: CI must run the PostgreSQL tests (.ci/run installs it)")
        pytest.skip(NOT_INSTALLED)
    return bin_dir


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server, started on first use, with the template migrated."""
    server = PostgresServer(require_postgres())
    try:
        server.start()
        server.template()
        yield server
    finally:
        server.cleanup()


_FINISHED: list[str] = []  # databases of finished tests, dropped when the next one starts


def database_for(request: pytest.FixtureRequest, sqlite_path: str) -> str:
    """A fresh database for this test, known by ``sqlite_path`` too.

    It is dropped when the next test asks for one, not when this one's ``settings`` fixture
    ends: fixtures set up before ``settings`` (aiohttp_client, and with it the app) end
    after it, and an app whose database vanished under it logs errors a test may check for.
    """
    server: PostgresServer = request.getfixturevalue("postgres")
    while _FINISHED:
        server.drop_database(_FINISHED.pop())
    url = server.fresh_database()
    DATABASES[sqlite_path] = url

    def finished() -> None:
        DATABASES.pop(sqlite_path, None)
        _FINISHED.append(url)
    request.addfinalizer(finished)
    return url


def postgres_url_for(target: str) -> str | None:
    """The PostgreSQL database behind ``target`` (a URL, or a test's SQLite path), if any."""
    if target.startswith(("postgresql://", "postgres://")):
        return target
    return DATABASES.get(target)


def _placeholders(sql: str) -> str:
    """SQLite's ``?`` placeholders as PostgreSQL's ``$1, $2, …`` (outside quoted text)."""
    out: list[str] = []
    n = 0
    quote: str | None = None
    for ch in sql:
        if quote:
            quote = None if ch == quote else quote
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            n += 1
            out.append(f"${n}")
            continue
        out.append(ch)
    return "".join(out)


async def pg_execute(url: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """One statement on the test's PostgreSQL database, as an operator's psql would run it."""
    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(_placeholders(sql), *params)]
    finally:
        await conn.close()

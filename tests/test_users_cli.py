"""``chatapp users create|list|reset``, beside a running app and as a real process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatapp import cli
from chatapp.settings import Settings

from .member_client import log_in, submit

Client = TestClient[Any, Any]


async def run_cli(*argv: str) -> int:
    return await asyncio.to_thread(cli.main, list(argv))


def run_process(db: str, *argv: str, stdin: str = "", env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatapp", "users", *argv, "--db", db], input=stdin,
                          capture_output=True, text=True, timeout=60, env=env)


def test_users_create_reads_the_password_from_stdin_and_the_member_can_log_in_at_once(settings: Settings) -> None:
    done = run_process(settings.db, "create", "Alice", "--admin", stdin="a long enough password\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "created admin Alice"
    listed = run_process(settings.db, "list")
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "STATUS", "JOINED", "LAST", "SEEN"]
    assert lines[1].split()[:3] == ["Alice", "admin", "active"]


def test_users_create_refuses_a_taken_or_invalid_name_with_one_line(settings: Settings) -> None:
    assert run_process(settings.db, "create", "alice", stdin="a long enough password\n").returncode == 0
    taken = run_process(settings.db, "create", "ALICE", stdin="another long password\n")
    assert taken.returncode == 1 and "taken" in taken.stderr and len(taken.stderr.splitlines()) == 1
    short = run_process(settings.db, "create", "bob", stdin="short\n")
    assert short.returncode == 1 and "8 characters" in short.stderr
    blank = run_process(settings.db, "create", "   ", stdin="a long enough password\n")
    assert blank.returncode == 1 and len(blank.stderr.splitlines()) == 1


async def test_a_member_made_by_the_cli_beside_a_running_app_can_log_in_and_use_the_admin(
        client: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", _Lines("a long enough password\n"))
    assert await run_cli("users", "create", "root", "--admin", "--db", settings.db) == 0
    assert (await log_in(client, "root")).status == 303
    assert (await client.get("/admin/members", allow_redirects=False)).status == 200


async def test_a_name_taken_by_the_cli_beside_a_running_app_is_soon_refused_to_guests(
        make_client: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chatapp.accounts.NAMES_REFRESH", 0.05)  # before the app starts
    client = await make_client()
    monkeypatch.setattr("sys.stdin", _Lines("a long enough password\n"))
    assert await run_cli("users", "create", "Dora", "--db", settings.db) == 0
    async with asyncio.timeout(5):  # the server looks for new members every NAMES_REFRESH
        while True:
            response = await client.get("/ws/lobby", params={"user": "dora"})
            if response.status == 400 and "name_taken" in await response.text():
                break
            await asyncio.sleep(0.05)


async def test_users_reset_prints_a_one_time_link_that_sets_a_new_password(
        client: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", _Lines("a long enough password\n"))
    assert await run_cli("users", "create", "alice", "--db", settings.db) == 0
    capsys.readouterr()
    monkeypatch.setenv("CHATAPP_PUBLIC_ORIGIN", "https://chat.example.org")
    assert await run_cli("users", "reset", "Alice", "--db", settings.db) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("https://chat.example.org/reset/")
    path = link.removeprefix("https://chat.example.org")
    assert (await client.get(path)).status == 200, path
    assert (await submit(client, path, password="the new password")).status == 303
    assert (await client.get(path)).status == 410
    assert (await client.get("/account", allow_redirects=False)).status == 200  # logged in by the reset


def test_users_reset_of_an_unknown_member_fails_with_one_line(settings: Settings, tmp_path: Path) -> None:
    done = run_process(settings.db, "reset", "nobody")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == "chatapp users reset: there is no member named 'nobody'"


class _Lines:
    """A non-terminal stdin holding some text."""

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines(keepends=True)

    def isatty(self) -> bool:
        return False

    def readline(self) -> str:
        return self._lines.pop(0) if self._lines else ""

"""File descriptors on a real server process: the limit is raised at start, slow clients
cannot hold connections, and running out is said in the log (issue 11 item 7)."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .server import UNLIMITED, ServerProcess

pytestmark = pytest.mark.skipif(not Path("/proc/self/limits").exists() or not shutil.which("prlimit"),
                                reason="needs Linux's /proc and prlimit (util-linux)")


def open_files_limits(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no 'Max open files' line")


async def log_says(server: ServerProcess, text: str, timeout: float = 10.0) -> None:
    """Wait until the server's log has ``text`` (its log file is the only event we get)."""
    async with asyncio.timeout(timeout):
        while text not in server.log():
            await asyncio.sleep(0.1)


async def started(tmp_path: Path, nofile: str, **env: str) -> ServerProcess:
    server = ServerProcess.chatapp(tmp_path / "chat.db", {**UNLIMITED, "CHATAPP_LOG_LEVEL": "INFO", **env},
                                   prefix=["prlimit", f"--nofile={nofile}"])
    await server.astart()
    return server


@pytest.fixture
async def cleanup() -> AsyncIterator[list[ServerProcess]]:
    servers: list[ServerProcess] = []
    yield servers
    for s in servers:
        await s.astop()


async def test_the_soft_open_files_limit_is_raised_to_the_hard_one_with_a_warning_if_too_low(
        tmp_path: Path, cleanup: list[ServerProcess]) -> None:
    server = await started(tmp_path, "256:4096")
    cleanup.append(server)
    assert open_files_limits(server.pid) == (4096, 4096)
    await log_says(server, "below what CHATAPP_MAX_CONNECTIONS=20000 needs")


async def test_a_client_that_never_finishes_its_request_is_disconnected(
        tmp_path: Path, cleanup: list[ServerProcess]) -> None:
    server = await started(tmp_path, "4096:4096", CHATAPP_REQUEST_TIMEOUT="1")
    cleanup.append(server)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # headers never end
    await writer.drain()
    async with asyncio.timeout(10):
        assert await reader.read() == b""  # the server closed it
    writer.close()


async def test_running_out_of_descriptors_is_logged(tmp_path: Path, cleanup: list[ServerProcess]) -> None:
    server = await started(tmp_path, "64:64")
    cleanup.append(server)
    held = []
    try:
        for _ in range(80):
            held.append(socket.create_connection(("127.0.0.1", server.port)))
        await log_says(server, "file descriptors are open: new connections will be refused")
    finally:
        for s in held:
            s.close()

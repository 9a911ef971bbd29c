"""``make cluster`` (python -m chatapp.cluster): the whole cluster behind nginx, and stopping
it stops everything it started. Skipped, saying why, where an engine is not installed."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import sys
from pathlib import Path

import pytest

from .cluster_harness import Receiver, need_engines, session

pytestmark = pytest.mark.slow

STARTED = re.compile(r"chatapp cluster: (http://127\.0\.0\.1:\d+)")
URL_PORT = re.compile(r"127\.0\.0\.1:(\d+)")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


async def test_make_cluster_serves_chat_through_nginx_and_stops_everything_it_started() -> None:
    need_engines()
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        if os.environ.get("CI"):
            pytest.fail("CI must run this test: nginx not installed (apt-get install nginx-light)")
        pytest.skip("nginx not installed (apt-get install nginx-light)")
    runner = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chatapp.cluster", "--nodes", "2", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, cwd=Path(__file__).parent.parent)
    assert runner.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(90):
            while not any(line.startswith("Ctrl-C") for line in lines):
                line = (await runner.stdout.readline()).decode()
                assert line, f"the runner ended early: {lines}"
                lines.append(line.strip())
        text = "\n".join(lines)
        match = STARTED.search(text)
        assert match, text
        url = match.group(1)
        ports = [int(p) for p in URL_PORT.findall(text)]  # nginx, the nodes, PostgreSQL, Redis
        root = Path(text.split("logs and data:", 1)[1].split()[0])
        async with session() as http:
            async with http.get(f"{url}/healthz") as resp:
                assert resp.status == 200
            # Round robin: two sockets through nginx land on the two nodes, and still talk.
            ws_url = url.replace("http://", "ws://")
            alice = Receiver(await http.ws_connect(f"{ws_url}/ws/lobby?user=alice"), "alice")
            bob = Receiver(await http.ws_connect(f"{ws_url}/ws/lobby?user=bob"), "bob")
            await alice.wait(lambda r: any({"alice", "bob"} <= set(p["users"]) for p in r.of_type("presence")),
                             what="both names (over Redis, whichever node each is on)")
            await alice.send("hello through nginx", "a1")
            await bob.wait(lambda r: [c["client_id"] for c in r.chats] == ["a1"], what="alice's message")
            await alice.close()
            await bob.close()
    finally:
        if runner.returncode is None:
            runner.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(runner.wait(), 60)
    assert code == 0
    assert [p for p in ports if _listening(p)] == []
    assert not root.exists()

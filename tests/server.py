"""Run the real server as a subprocess on a free port, for tests that signal or kill it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    def __init__(self, db: Path, **env: str) -> None:
        self.db = db
        self.port = free_port()
        self.env = {**os.environ, "CHATAPP_MSG_RATE": "0", "CHATAPP_MAX_CONNECTIONS_PER_IP": "0",
                    "CHATAPP_LOG_LEVEL": "WARNING", "CHATAPP_ADMIN_PASSWORD": "test", **env}
        self.proc: subprocess.Popen[bytes] | None = None
        # A file, not a pipe: nobody reads a pipe while the test runs, and a full one
        # would block the server.
        self.log_path = db.with_name(db.name + ".log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 20.0) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chatapp", "--port", str(self.port), "--db", str(self.db)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        async with asyncio.timeout(timeout), aiohttp.ClientSession() as session:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log()}")
                try:
                    async with session.get(self.url + "/healthz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)  # polling a process we cannot get an event from

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(asyncio.to_thread(self.proc.wait), timeout)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

"""A real server as a subprocess on a free port: the one way tests and the benchmark start one.

:class:`ServerProcess` runs any command that serves ``/healthz`` on a port it was given:
``python -m chatapp`` (:meth:`ServerProcess.chatapp`), or the benchmark's reference relay.
It waits until the server answers, signals, stops and kills it, and keeps its output in a
log file. The methods block, because the browser tests drive Playwright's sync API from a
thread whose event loop is already taken; ``astart``, ``astop`` and ``await_exit`` are the
same for asyncio callers. Subclasses add what one kind of caller needs: the browser tests
seed rooms, the benchmark reads CPU and memory from ``/proc``.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

# Limits a test or a benchmark would trip over at once: many connections from 127.0.0.1,
# and messages sent faster than a person types.
UNLIMITED = {"CHATAPP_MSG_RATE": "0", "CHATAPP_ADDRESS_RATE": "0", "CHATAPP_SEARCH_RATE": "0", "CHATAPP_ROOM_RATE": "0",
             "CHATAPP_MAX_CONNECTIONS_PER_IP": "0"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """One server subprocess on ``port``: start it, wait until it answers, stop it."""

    # How stop() asks the server to end, and how long it waits before killing it.
    stop_signal = signal.SIGTERM
    stop_timeout = STOP_TIMEOUT

    def __init__(self, cmd: Sequence[str], *, port: int, log_path: Path, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None, pythonpath: Sequence[Path] = (), name: str = "server",
                 db: Path | None = None) -> None:
        self.cmd = list(cmd)
        self.port = port
        self.name = name
        self.db = db  # the database it serves, if it has one
        # A file, not a pipe: nobody reads a pipe while the server runs, and a full one would
        # block it. Appended to, so a restarted server's log follows the first one's.
        self.log_path = log_path
        self.cwd = cwd
        self.env = {**os.environ, **(env or {})}
        if pythonpath:
            self.env["PYTHONPATH"] = os.pathsep.join(
                [*(str(p.resolve()) for p in pythonpath), *filter(None, [self.env.get("PYTHONPATH")])])
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def chatapp(cls, db: Path, env: Mapping[str, str] | None = None, *, prefix: Sequence[str] = (),
                log_path: Path | None = None, cwd: Path | None = None, pythonpath: Sequence[Path] = ()) -> Self:
        """``python -m chatapp`` on a free port, serving ``db``; ``env`` adds ``CHATAPP_*`` settings.

        ``prefix`` goes before the command (the benchmark's ``taskset``); ``pythonpath`` puts
        another source tree ahead of the installed one.
        """
        port = free_port()
        cmd = [*prefix, sys.executable, "-m", "chatapp", "--port", str(port), "--db", str(db)]
        return cls(cmd, port=port, env=env, cwd=cwd, pythonpath=pythonpath, name="chatapp", db=db,
                   log_path=log_path or db.with_name(db.name + ".log"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the process and return once ``/healthz`` answers 200; raise with its log if it never does."""
        assert not self.running, "already running"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._healthy():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} at start:\n{self.log(30)}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.name} did not answer within {timeout}s:\n{self.log(30)}")
            # A booting process gives no event to wait on; 50 ms keeps start-up latency low.
            time.sleep(0.05)

    def _healthy(self) -> bool:
        # http.client rather than urllib: no proxy from the environment gets in the way.
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None, "not started"
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """The exit status, once the process ends; ``subprocess.TimeoutExpired`` if it does not."""
        assert self.proc is not None, "not started"
        return self.proc.wait(timeout)

    def stop(self) -> int:
        """Ask the server to end (``stop_signal``), and kill it if it is still there after ``stop_timeout``.

        Returns the exit status (negative: the signal that ended it), also when it had already
        ended, so a check after the test notices a server that crashed during it.
        """
        assert self.proc is not None, "not started"
        if self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                return self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    async def astart(self, timeout: float = START_TIMEOUT) -> None:
        await asyncio.to_thread(self.start, timeout)

    async def await_exit(self, timeout: float) -> int:
        return await asyncio.to_thread(self.wait, timeout)

    async def astop(self) -> int:
        return await asyncio.to_thread(self.stop)

    def log(self, lines: int | None = None) -> str:
        """What the server wrote to stdout and stderr: all of it, or its last ``lines``."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text if lines is None else "\n".join(text.splitlines()[-lines:])

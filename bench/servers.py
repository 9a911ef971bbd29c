"""The servers under test: started as subprocesses on loopback, measured from /proc, stopped.

They start and stop through :class:`tests.server.ServerProcess`, as the tests' servers do
(``python -m bench`` runs from the repository root, so ``tests`` imports). chatapp runs
exactly as an operator would start it (``python -m chatapp``) with its limits turned off
through settings; the reference runs from :mod:`bench.reference`. With two or more cores
the server is pinned to core 0 and the generator (this process) to core 1.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from tests.server import UNLIMITED, ServerProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 30.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def raise_fd_limit() -> int:
    """Lift the soft open-files limit to the hard one; spawned servers inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1_048_576 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pinning() -> tuple[list[str], set[int] | None]:
    """The taskset prefix for servers and the CPU set for the generator, when there are 2+ cores."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(cores[0])], {cores[1]}
    return [], None


class Server(ServerProcess):
    """One server subprocess (see :mod:`tests.server`), measured from /proc, optionally profiled.

    Stopped with SIGINT, as Ctrl-C, and killed if it does not exit in time.
    """

    stop_signal = signal.SIGINT
    stop_timeout = STOP_TIMEOUT
    profiler: subprocess.Popen[bytes] | None = None

    def cpu_seconds(self) -> float:
        return _cpu(Path(f"/proc/{self.pid}/stat"))

    def loop_cpu_seconds(self) -> float:
        """CPU of the main thread alone: the event loop, without the database threads."""
        return _cpu(Path(f"/proc/{self.pid}/task/{self.pid}/stat"))

    def memory_kb(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak) of the server process, in KiB."""
        out: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
        return out

    def start_profiler(self, out: Path, rate: int = 200) -> None:
        """Attach py-spy to the running server; its raw stacks land in ``out`` on stop."""
        spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
        if spy is None:
            raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
        self.profiler = subprocess.Popen(
            [spy, "record", "--pid", str(self.pid), "--rate", str(rate), "--format", "raw",
             "--nonblocking", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop_profiler(self) -> None:
        if self.profiler is not None:
            self.profiler.send_signal(signal.SIGINT)
            try:
                self.profiler.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.profiler.kill()
            self.profiler = None

    def stop(self) -> int:
        self.stop_profiler()
        return super().stop()

    async def restart(self, sig: signal.Signals = signal.SIGTERM) -> tuple[int, float]:
        """Signal the server, wait for it to end, and start the same command again: the same
        port, database and environment, as an operator's restart. The old process's exit
        status and the seconds from the signal to its exit; back once ``/healthz`` answers."""
        self.stop_profiler()
        loop = asyncio.get_running_loop()
        start = loop.time()
        self.signal(sig)
        code = await self.await_exit(self.stop_timeout)
        exited = loop.time() - start
        await self.astart()
        return code, exited


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (everything but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / CLK_TCK


def _cpu(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def chatapp(workdir: Path, prefix: list[str], send_queue: int, tree: Path | None = None) -> Server:
    db = workdir / "bench.db"
    for suffix in ("", "-wal", "-shm", ".secret", ".log"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    env = {
        **UNLIMITED,
        "CHATAPP_MAX_CONNECTIONS": "0",
        "CHATAPP_HEARTBEAT": "0",
        "CHATAPP_LOG_LEVEL": "WARNING",
        "CHATAPP_SEND_QUEUE": str(send_queue),
        "CHATAPP_ADMIN_PASSWORD": "benchmark-admin-password-not-used",
    }
    # A candidate change, checked out elsewhere, goes ahead of the installed one.
    return Server.chatapp(db, env, prefix=prefix, cwd=workdir, pythonpath=[tree] if tree else [])


def reference(workdir: Path, prefix: list[str], history: int = 0) -> Server:
    port = free_port()
    cmd = [*prefix, sys.executable, "-m", "bench.reference", "--port", str(port), "--history", str(history)]
    return Server(cmd, port=port, name="reference", cwd=workdir, pythonpath=[ROOT],
                  log_path=workdir / f"reference-{port}.log")


def check_database(db: Path, expected: Iterable[tuple[str, str]]) -> list[str]:
    """Problems, if any, between the rows in ``db`` and the (room, client_id) pairs sent."""
    want = set(expected)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT room, client_id, body FROM messages").fetchall()
    finally:
        conn.close()
    have: set[tuple[str, str]] = set()
    problems: list[str] = []
    for room, client_id, body in rows:
        key = (room, client_id)
        if key in have:
            problems.append(f"row stored twice: {key}")
        have.add(key)
        idx, _, seq = str(client_id).partition(".")
        if not str(body).startswith(f"~{idx}~{seq}~"):
            problems.append(f"row {key} has body {str(body)[:40]!r}")
    missing = want - have
    extra = have - want
    if missing:
        problems.append(f"{len(missing)} messages sent but not stored, e.g. {sorted(missing)[:3]}")
    if extra:
        problems.append(f"{len(extra)} rows nobody sent, e.g. {sorted(extra)[:3]}")
    return problems[:20]

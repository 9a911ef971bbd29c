"""File descriptors: one per connection, and a server that runs out stops accepting.

At start the soft ``RLIMIT_NOFILE`` is raised to the hard limit (no privileges needed),
with a warning when even that is below what ``CHATAPP_MAX_CONNECTIONS`` needs. While the
server runs, :func:`watch` looks at how many are open every few seconds and says so in
the log when they run low: the event loop (uvloop's libuv above all) refuses connections
it cannot accept without logging anything.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

log = logging.getLogger(__name__)

# Descriptors the server needs besides one per connection: the database's connections
# and their WAL files, the listening socket, logs, a margin for HTTP requests.
SPARE = 256
WATCH_INTERVAL = 2.0  # seconds between looks at /proc/self/fd
LOW, OK = 0.9, 0.8  # warn above 90% of the limit in use; say so again once under 80%
_FD_DIR = Path("/proc/self/fd")


def raise_open_files_limit(max_connections: int) -> tuple[int, int]:
    """Raise the soft limit to the hard one; warn when that is too low. (soft, hard) after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        want = hard if hard != resource.RLIM_INFINITY else max(soft, max_connections + SPARE, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open files limit from %d: %s", soft, exc)
    if max_connections and soft < max_connections + SPARE:
        log.warning("the open files limit (%d) is below what CHATAPP_MAX_CONNECTIONS=%d needs (%d): "
                    "raise it (systemd: LimitNOFILE=) or lower CHATAPP_MAX_CONNECTIONS",
                    soft, max_connections, max_connections + SPARE)
    return soft, hard


def open_descriptors() -> int:
    return len(os.listdir(_FD_DIR))


async def watch(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context: log when open descriptors near the limit, and when they recede."""
    if not await asyncio.to_thread(_FD_DIR.is_dir):  # not Linux: nothing cheap to look at
        yield
        return

    async def run() -> None:
        low = False
        while True:
            await asyncio.sleep(WATCH_INTERVAL)  # a periodic look, not a wait for an event
            limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            try:
                used = await asyncio.to_thread(open_descriptors)
            except OSError:  # listing them takes one more: none left at all
                used = limit
            if not low and used >= LOW * limit:
                low = True
                log.error("%d of %d file descriptors are open: new connections will be refused; "
                          "raise the limit (systemd: LimitNOFILE=) or lower CHATAPP_MAX_CONNECTIONS",
                          used, limit)
            elif low and used < OK * limit:
                low = False
                log.warning("file descriptors back to %d of %d", used, limit)

    task = asyncio.create_task(run(), name="chatapp-descriptor-watch")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

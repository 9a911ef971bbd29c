"""The reconnect storm (issue #17): every page of a busy server reconnects at once after a restart.

5,000 clients (``--quick``: 1,000) in rooms of 50, one sender per room, 200 messages a
second in all, before, during and after chatapp is restarted with SIGTERM on the same port
and database. Each client behaves as the room page does (static/room-socket.js,
static/room-outbox.js, static/room-main.js): on a close it waits the page's backoff,
reconnects with ``after=<the highest id it holds>&max_backfill=500``, and a sender sends
again, with the same ``client_id``, every message it has no stored frame for yet. A
client has caught up once it holds every message of its room that any client of the room
had seen when it got back in; at the end each must hold exactly its room's messages, each
once, in id order. Against the reference relay the same number of fresh connections is
opened through the same gate: ``catch_up_s`` of both is the figure the target compares.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from .scenarios import Meter, Outcome
from .servers import Server
from .stormpage import CONCURRENCY, Page, Storm
from .wsclient import Run, close_all, connect_many, control_frame

PER_ROOM = 50
RATE = 200.0  # messages a second, all rooms together
BEFORE = 3.0  # seconds of sending before the restart
AFTER = 1.0  # and after the last client is back in
BACK_TIMEOUT = 120.0  # from the restart until every client is back in
DRAIN_TIMEOUT = 60.0
COUNTS = ("failed_attempts", "storm_messages", "shutting_down", "resent", "retry_echoes", "duplicates",
          "out_of_order", "resets", "gaps", "extra")


async def _wait(event: asyncio.Event, timeout: float, what: str, storm: Storm) -> bool:
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
        return True
    except TimeoutError:
        storm.run.problem(f"timed out after {timeout:.0f}s waiting for {what}")
        return False


async def _send(senders: list[Page], stop: asyncio.Event) -> None:
    """RATE messages a second at fixed times, round-robin over the rooms' senders, until ``stop``."""
    step, t0, k = 1e9 / RATE, time.monotonic_ns(), 0
    while not stop.is_set():
        now = time.monotonic_ns()
        while t0 + k * step <= now:
            senders[k % len(senders)].post()
            k += 1
        try:
            async with asyncio.timeout((t0 + k * step - now) / 1e9):
                await stop.wait()
        except TimeoutError:
            pass


async def storm(server: Server, *, quick: bool = False) -> Outcome:
    clients = 1_000 if quick else 5_000
    if server.name == "reference":
        return await _fresh(server, clients)
    return await _storm(server, clients)


async def _fresh(server: Server, clients: int) -> Outcome:
    """The relay's side: how long ``clients`` fresh connections take, through the same gate."""
    run = Run()
    meter = Meter(server)
    t = time.perf_counter()
    pages = await connect_many([(i, f"s{i // PER_ROOM}", f"u{i}") for i in range(clients)], server.port, run,
                               concurrency=CONCURRENCY)
    took = time.perf_counter() - t
    cpu = meter.stop()
    await close_all(pages, timeout=30.0)
    metrics = {"clients": clients, "catch_up_s": round(took, 3), "connect_s": round(took, 3), **cpu}
    return Outcome(metrics, run.problems, [])


async def _storm(server: Server, clients: int) -> Outcome:
    storm = Storm(server.port, clients)
    pages = [Page(storm, i, f"s{i // PER_ROOM}", i % PER_ROOM == 0) for i in range(clients)]
    stop = asyncio.Event()
    sending: asyncio.Task[None] | None = None
    metrics: dict[str, Any] = {"clients": clients, "rooms": clients // PER_ROOM}
    try:
        t = time.perf_counter()
        for p in pages:
            p.connect()
        if not await _wait(storm.all_open, BACK_TIMEOUT, "the first connections", storm):
            return Outcome(metrics, storm.run.problems, storm.generated)
        metrics["connect_s"] = round(time.perf_counter() - t, 3)
        sending = asyncio.create_task(_send([p for p in pages if p.sender], stop))
        await asyncio.sleep(BEFORE)  # load before the restart, not a wait for anything

        storm.restarting = True
        sig_ns = time.monotonic_ns()
        code, exited = await server.restart()
        ready_ns = min(time.monotonic_ns(), storm.first_back_ns or 1 << 62)
        meter = Meter(server)
        if code != 0:
            storm.run.problem(f"chatapp exited with {code} on SIGTERM")
        back = await _wait(storm.all_back, BACK_TIMEOUT, "every client to reconnect", storm)
        back_ns = time.monotonic_ns()
        if back:
            await asyncio.sleep(AFTER)  # sending goes on after the storm
        stop.set()
        await sending
        storm.sending = False
        storm.settled(0)
        await _wait(storm.outboxes_empty, DRAIN_TIMEOUT, "every message to be acknowledged", storm)
        storm.expected = sum(len(storm.stored[p.room]) for p in pages)
        storm.hold(0)
        await _wait(storm.drained, DRAIN_TIMEOUT, "every client to hold its room's messages", storm)
        cpu = meter.stop()
        problems = _verify(pages, storm)
        metrics.update({"exit_code": code, "shutdown_s": round(exited, 3),
                        **_timeline(pages, storm, sig_ns, ready_ns, back_ns if back else 0),
                        "messages": len(storm.generated), "reconnect_attempts": storm.counts["attempts"],
                        **{k: storm.counts[k] for k in COUNTS},
                        "close_codes": {str(k): v for k, v in sorted(storm.close_codes.items())},
                        "refused": {k[8:]: v for k, v in storm.counts.items() if k.startswith("refused_")},
                        **cpu})
        return Outcome(metrics, problems, storm.generated)
    finally:
        stop.set()
        if sending is not None and not sending.done():
            sending.cancel()
        await _finish(pages, storm)


def _timeline(pages: list[Page], storm: Storm, sig_ns: int, ready_ns: int, back_ns: int) -> dict[str, Any]:
    """Seconds from the restarted server's readiness: the last client caught up, the median
    one, the last back in; the longest backfill; when the last successful attempt's backoff
    timer fired, and the longest wait at the gate (was it the page's backoff or the server?).

    A client has caught up when it holds every message of its room up to the newest any
    client of the room had seen as it got back in (or as it got back in, if it had them all).
    """
    back = [p for p in pages if p.back_ns]
    if not back_ns or not back:
        return {"restart_s": round((ready_ns - sig_ns) / 1e9, 3), "catch_up_s": None}
    caught = sorted(((max([p.back_ns, *(p.held.get(i, 1 << 62) for i in storm.stored[p.room] if i <= p.target)]), p)
                     for p in back), key=lambda cp: cp[0])

    def s(ns: int) -> float | None:  # None: a client never caught up (a problem of its own)
        return round(ns / 1e9, 3) if ns < 1 << 61 else None

    return {"last_close_s": s(storm.last_close_ns - sig_ns), "restart_s": s(ready_ns - sig_ns),
            "catch_up_s": s(caught[-1][0] - ready_ns), "catch_up_p50_s": s(caught[len(caught) // 2][0] - ready_ns),
            "last_back_s": s(back_ns - ready_ns), "backfill_max_s": s(max(c - p.back_ns for c, p in caught)),
            "last_timer_s": s(max(p.back_fired_ns for p in back) - ready_ns),
            "gate_wait_max_s": s(max(p.back_gated_ns - p.back_fired_ns for p in back)),
            "total_s": s(caught[-1][0] - sig_ns)}


def _verify(pages: list[Page], storm: Storm) -> list[str]:
    """Each client holds exactly its room's acknowledged messages (order and duplicates were
    checked as they came)."""
    run = storm.run
    for p in pages:
        want, have = storm.stored[p.room], set(p.held)
        gaps, extra = len(want - have), len(have - want)
        storm.counts.update(gaps=gaps, extra=extra)
        if gaps or extra:
            run.problem(f"client {p.idx} in {p.room}: {gaps} missing, {extra} not acknowledged to the sender, "
                        f"e.g. {sorted(want ^ have)[:3]}")
    if unsent := sum(len(p.outbox) for p in pages):
        run.problem(f"{unsent} messages never acknowledged to their sender")
    problems = list(run.problems)
    if run.problem_count > len(problems):
        problems.append(f"... {run.problem_count - len(problems)} more problems")
    return problems


async def _finish(pages: list[Page], storm: Storm) -> None:
    storm.finishing = True
    gc.enable()  # a Meter left running by a failure must not leave the generator without it
    for t in list(storm.tasks):
        t.cancel()
    waiting = []
    for p in pages:
        if p.transport is not None:
            if p.open:
                p.transport.write(control_frame(0x8, (1000).to_bytes(2, "big")))
            p.transport.close()
            if p.lost is not None:
                waiting.append(p.lost)
    if waiting:
        await asyncio.wait(waiting, timeout=30.0)

"""The four scenarios: fanout, burst, idle and history, each run against one live server.

Each returns an :class:`Outcome`: its figures, the problems it saw (lost, duplicated or
reordered deliveries, unexpected frames, failed requests) and the (room, client_id) of
every chat message it sent, which the caller checks against chatapp's database once the
server has stopped. Every loop is bounded by a count and every wait by a timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import time
from collections.abc import Iterator
from typing import Any

import orjson

from .servers import Server, machine_busy_seconds
from .wsclient import HTTPClient, Run, WSClient, close_all, connect_many

DRAIN_TIMEOUT = 60.0  # after the last send, everything must arrive within this
SETTLE = 1.0  # seconds for join-time presence frames to die down before measuring
# A generator busier than this while the server had CPU to spare is what limited the run.
SATURATED = 0.90
# CPU used by anything but the server and the generator (other jobs on the machine) above
# which a run's figures are marked noisy.
NOISY = 0.10


@dataclasses.dataclass
class Outcome:
    metrics: dict[str, Any]
    problems: list[str]
    sent: list[tuple[str, str]]  # (room, client_id) of every chat message sent


class Meter:
    """Wall time and CPU of both sides over one measurement window."""

    def __init__(self, server: Server) -> None:
        self.server = server
        gc.collect()
        gc.disable()  # a collection pause in the generator would show up as server latency
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        self.server_cpu = server.cpu_seconds()
        self.loop_cpu = server.loop_cpu_seconds()
        self.busy = machine_busy_seconds()

    def stop(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.wall
        gen = (time.process_time() - self.cpu) / wall
        srv = (self.server.cpu_seconds() - self.server_cpu) / wall
        loop = (self.server.loop_cpu_seconds() - self.loop_cpu) / wall
        other = max(0.0, (machine_busy_seconds() - self.busy) / wall - gen - srv)
        gc.enable()
        return {"wall_s": round(wall, 3), "generator_cpu": round(gen, 3),
                "server_cpu": round(srv, 3), "server_loop_cpu": round(loop, 3),
                "generator_saturated": gen >= SATURATED and srv < SATURATED,
                "other_cpu": round(other, 3), "noisy": other >= NOISY}


def _specs(rooms: int, per_room: int, prefix: str = "r") -> list[tuple[int, str, str | None]]:
    return [(r * per_room + i, f"{prefix}{r}", f"u{r * per_room + i}")
            for r in range(rooms) for i in range(per_room)]


def _sent_rows(clients: list[WSClient]) -> list[tuple[str, str]]:
    return [(c.room, f"{c.idx}.{seq}") for c in clients for seq in range(c.sent)]


def _verify(clients: list[WSClient], run: Run) -> list[str]:
    """Every client got every message of its room, each once, in each sender's order."""
    by_room: dict[str, list[WSClient]] = {}
    for c in clients:
        by_room.setdefault(c.room, []).append(c)
    problems = list(run.problems)
    if run.problem_count > len(run.problems):
        problems.append(f"... {run.problem_count - len(run.problems)} more delivery problems")
    missing = 0
    for members in by_room.values():
        sent = {c.idx: c.sent for c in members if c.sent}
        for c in members:
            for idx, n in sent.items():
                missing += max(0, n - c.next_seq.get(idx, 0))
            strangers = set(c.next_seq) - set(sent)
            if strangers:
                problems.append(f"client {c.idx} got messages from outside its room: {strangers}")
    if missing:
        problems.append(f"{missing} deliveries missing")
    return problems


async def _wait(run: Run, timeout: float) -> bool:
    try:
        async with asyncio.timeout(timeout):
            await run.done.wait()
        return True
    except TimeoutError:
        return False


async def _sleep_until(deadline_ns: int) -> None:
    while (left := deadline_ns - time.monotonic_ns()) > 0:
        await asyncio.sleep(left / 1e9)


def _percentiles(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    values.sort()
    n = len(values)

    def ms(q: float) -> float:
        return round(values[min(n - 1, int(q * n))] / 1e6, 2)

    return {"p50_ms": ms(0.50), "p95_ms": ms(0.95), "p99_ms": ms(0.99),
            "max_ms": round(values[-1] / 1e6, 2)}


async def fanout(server: Server, *, rooms: int = 10, per_room: int = 20, rate: float = 2000,
                 duration: float = 10.0) -> Outcome:
    """Messages offered at fixed times, round-robin over rooms; latency send -> each receive."""
    run = Run(latencies=True)
    clients = await connect_many(_specs(rooms, per_room), server.port, run, pad="x" * 48)
    try:
        await asyncio.sleep(SETTLE)
        total = int(rate * duration)
        step = 1e9 / rate
        n = len(clients)
        # Consecutive messages go to different rooms, and within a room to each client in turn.
        order = [(k % rooms) * per_room + (k // rooms) % per_room for k in range(n)]
        meter = Meter(server)
        t0 = time.monotonic_ns() + 50_000_000
        k = 0
        max_lag = 0
        while k < total:
            now = time.monotonic_ns()
            while k < total and (due := t0 + int(k * step)) <= now:
                # The scheduled time goes in the message, so a late send counts as latency.
                clients[order[k % n]].send(due)
                max_lag = max(max_lag, now - due)
                k += 1
            if k < total:
                await _sleep_until(t0 + int(k * step))
        run.expect(total * per_room)
        delivered_all = await _wait(run, DRAIN_TIMEOUT)
        cpu = meter.stop()
        assert run.latencies is not None
        metrics = {"offered_per_s": rate, "messages": total, "deliveries": run.delivered,
                   "lost": total * per_room - run.delivered, "delivered_all": delivered_all,
                   **_percentiles(run.latencies), "max_send_lag_ms": round(max_lag / 1e6, 2), **cpu}
        return Outcome(metrics, _verify(clients, run), _sent_rows(clients))
    finally:
        await close_all(clients)


async def burst(server: Server, *, rooms: int = 10, per_room: int = 20, window: int = 4,
                duration: float = 10.0) -> Outcome:
    """Every client keeps ``window`` of its own messages unanswered for ``duration`` seconds."""
    run = Run()
    clients = await connect_many(_specs(rooms, per_room), server.port, run, pad="x" * 48)
    try:
        await asyncio.sleep(SETTLE)
        meter = Meter(server)
        start, messages, delivered_all = await offer_burst(clients, run, per_room, window, duration)
        cpu = meter.stop()
        span = max(run.last_ns - start, 1) / 1e9
        metrics = {"messages": messages, "deliveries": run.delivered,
                   "lost": messages * per_room - run.delivered, "delivered_all": delivered_all,
                   "span_s": round(span, 3), "stored_per_s": round(messages / span),
                   "deliveries_per_s": round(run.delivered / span), **cpu}
        return Outcome(metrics, _verify(clients, run), _sent_rows(clients))
    finally:
        await close_all(clients)


async def offer_burst(clients: list[WSClient], run: Run, per_room: int, window: int, duration: float,
                      drain_timeout: float = DRAIN_TIMEOUT) -> tuple[int, int, bool]:
    """Every client keeps ``window`` of its own messages unanswered for ``duration`` seconds,
    then every delivery is awaited: (when it began, in monotonic ns; messages sent; whether
    every delivery arrived)."""
    start = time.monotonic_ns()
    until = start + int(duration * 1e9)
    for c in clients:
        c.burst_until_ns = until
        c.send_many(window)
    await _sleep_until(until)
    # No client sends after ``until``, so what it sent is final: expect exactly that.
    messages = sum(c.sent for c in clients)
    run.expect(messages * per_room)
    return start, messages, await _wait(run, drain_timeout)


async def idle(server: Server, *, connections: int = 2000, broadcasts: int = 100) -> Outcome:
    """``connections`` idle sockets in one room, then ``broadcasts`` messages to all of them."""
    run = Run()
    base = server.memory_kb()["VmRSS"]
    t = time.perf_counter()
    clients = await connect_many(_specs(1, connections, prefix="idle"), server.port, run,
                                 concurrency=200)
    connect_s = time.perf_counter() - t
    try:
        await asyncio.sleep(SETTLE)
        held_rss = server.memory_kb()["VmRSS"]
        meter = Meter(server)
        start = time.monotonic_ns()
        run.expect(connections * broadcasts)
        clients[0].send_many(broadcasts)
        delivered_all = await _wait(run, DRAIN_TIMEOUT * 2)
        cpu = meter.stop()
        mem = server.memory_kb()
        held = sum(1 for c in clients if not c.closed.done())
        metrics = {"connections": connections, "held": held, "connect_s": round(connect_s, 2),
                   "broadcasts": broadcasts, "deliveries": run.delivered,
                   "lost": connections * broadcasts - run.delivered, "delivered_all": delivered_all,
                   "broadcast_s": round((run.last_ns - start) / 1e9, 3),
                   "rss_base_mb": round(base / 1024, 1), "rss_held_mb": round(held_rss / 1024, 1),
                   "kb_per_connection": round((held_rss - base) / connections, 1),
                   "peak_rss_mb": round(mem["VmHWM"] / 1024, 1), **cpu}
        return Outcome(metrics, _verify(clients, run), _sent_rows(clients))
    finally:
        await close_all(clients, timeout=30.0)


async def fill_history(server: Server, messages: int, room: str = "history") -> Outcome:
    """Store ``messages`` messages in ``room`` through the WebSocket, as people would."""
    senders = 10
    run = Run()
    clients = await connect_many([(i, room, f"u{i}") for i in range(senders)], server.port, run)
    try:
        per = messages // senders
        for c in clients:
            c.limit = per
            c.burst_until_ns = time.monotonic_ns() + int(120e9)
            c.send_many(min(8, per))
        run.expect(per * senders * senders)
        ok = await _wait(run, 120.0)
        problems = _verify(clients, run) + ([] if ok else ["history fill timed out"])
        return Outcome({"stored": per * senders}, problems, _sent_rows(clients))
    finally:
        await close_all(clients)


async def _http_load(server: Server, paths: Iterator[str], duration: float, concurrency: int,
                     warmup: float = 0.5, cookie: str = "") -> tuple[dict[str, Any], list[HTTPClient]]:
    """``concurrency`` keep-alive connections, each one GET after another, for ``duration``.

    The first ``warmup`` seconds (template compilation, connection set-up, caches) are
    not counted.
    """
    loop = asyncio.get_running_loop()
    until = time.monotonic_ns() + int((warmup + duration) * 1e9)
    clients = [HTTPClient(server.port, paths.__next__, until, cookie) for _ in range(concurrency)]
    try:
        for c in clients:
            await loop.create_connection(lambda c=c: c, "127.0.0.1", server.port)  # type: ignore[misc]
        await asyncio.sleep(warmup)
        before = sum(c.ok for c in clients)
        meter = Meter(server)
        async with asyncio.timeout(duration + 30):
            await asyncio.gather(*(c.finished for c in clients))
        cpu = meter.stop()
    finally:
        for c in clients:
            if c.transport is not None:
                c.transport.close()
    ok = sum(c.ok for c in clients) - before
    return {"requests": ok, "failed": sum(c.bad for c in clients),
            "per_s": round(ok / cpu["wall_s"]), **cpu}, clients


def _cycle(make: Any) -> Iterator[str]:
    i = 0
    while True:
        yield make(i)
        i += 1


async def history(server: Server, *, messages: int = 10_000, duration: float = 5.0,
                  concurrency: int = 16, fill: bool = True) -> Outcome:
    """Room pages, then history API pages, per second with ``messages`` stored."""
    problems: list[str] = []
    sent: list[tuple[str, str]] = []
    if fill:
        filled = await fill_history(server, messages)
        problems += filled.problems
        sent = filled.sent
    pages, _ = await _http_load(server, _cycle(lambda i: "/rooms/history"), duration, concurrency)
    # Walk the history backwards page by page, as a client scrolling up would.
    api, api_clients = await _http_load(
        server,
        _cycle(lambda i: f"/api/rooms/history/messages?before={messages + 1 - (i * 50) % (messages - 50)}"
                         "&limit=50"),
        duration, concurrency)
    first = next((c.first_body for c in api_clients if c.first_body), None)
    if first is None or len(orjson.loads(first)["messages"]) != 50:
        problems.append("history API did not return a page of 50 messages")
    for name, figures in (("room page", pages), ("history API", api)):
        if figures["failed"]:
            problems.append(f"{figures['failed']} {name} requests failed")
    metrics = {"stored": messages, "pages_per_s": pages["per_s"], "api_per_s": api["per_s"],
               "pages_server_cpu": pages["server_cpu"], "api_server_cpu": api["server_cpu"],
               "generator_cpu": max(pages["generator_cpu"], api["generator_cpu"]),
               "other_cpu": max(pages["other_cpu"], api["other_cpu"]),
               "noisy": pages["noisy"] or api["noisy"],
               "generator_saturated": pages["generator_saturated"] or api["generator_saturated"]}
    return Outcome(metrics, problems, sent)

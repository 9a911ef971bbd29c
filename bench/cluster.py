"""``python -m bench --cluster``: chatapp on PostgreSQL, one node and two, beside the SQLite baseline.

Three layouts run the same two loads, one after another, each on fresh processes:

- ``sqlite``: one chatapp on its SQLite file (the baseline, the single-process fast path);
- ``pg-1``: one chatapp node on PostgreSQL;
- ``pg-2``: two chatapp nodes on the same PostgreSQL, each room's clients split between them.

Every server process (the nodes, PostgreSQL, Redis) is pinned to the same core and the
generator to the other (on a 2-core machine), so one node and two compete for the same CPU:
the figures compare what each layout does with one core, not how it scales. The loads:

- ``cost``: messages offered at a fixed rate (fanout's rooms and clients), measuring the CPU
  each process used per stored message and per delivery (utime + stime from /proc, before
  and after), and latency from send to receive, split between receivers on the sender's node
  and on the other node (two probe receivers in a room of their own).
- ``burst``: every client keeps a window of its own messages unanswered: the most the layout
  stores and delivers with that one core.

Every delivery is checked (each sender's messages arrive once, in order, at every member of
its room) and every row: after the run the database holds each message sent exactly once.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from chatapp.cluster.services import Postgres, Redis, free_port

from .scenarios import DRAIN_TIMEOUT, NOISY, SETTLE, _percentiles, _sleep_until, _verify, _wait, offer_burst
from .servers import CLK_TCK, ROOT, Server, machine_busy_seconds
from .wsclient import Run, WSClient, close_all, connect_ws

log = logging.getLogger("bench")

LAYOUTS = ("sqlite", "pg-1", "pg-2")
ENV = {
    "CHATAPP_MSG_RATE": "0", "CHATAPP_ADDRESS_RATE": "0", "CHATAPP_ROOM_RATE": "0", "CHATAPP_SEARCH_RATE": "0",
    "CHATAPP_MAX_CONNECTIONS_PER_IP": "0", "CHATAPP_MAX_CONNECTIONS": "0", "CHATAPP_HEARTBEAT": "0",
    "CHATAPP_LOG_LEVEL": "WARNING", "CHATAPP_SEND_QUEUE": "100000",
    "CHATAPP_ADMIN_PASSWORD": "benchmark-admin-password-not-used",
}
PROBE_RATE = 50.0  # probe messages per second, sent on node 1, received on both nodes


def _stat_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # ended meanwhile
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Layout:
    name: str
    nodes: list[Server]
    postgres: Postgres | None = None
    redis: Redis | None = None
    database_url: str | None = None
    db: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each node and of PostgreSQL (all its processes)."""
        out = {f"node{i + 1}": n.cpu_seconds() for i, n in enumerate(self.nodes)}
        if self.postgres is not None:
            out["postgres"] = sum(_stat_cpu(p) for p in self.postgres.pids())
        return out

    async def stop(self) -> list[int]:
        codes = [await n.astop() for n in self.nodes]
        if self.redis is not None:
            await asyncio.to_thread(self.redis.stop)
        if self.postgres is not None:
            await asyncio.to_thread(self.postgres.stop)
        return codes


async def start_layout(name: str, workdir: Path, prefix: list[str], run_no: int) -> Layout:
    root = workdir / f"{name}-{run_no}"
    root.mkdir(parents=True)
    root.chmod(0o755)
    if name == "sqlite":
        db = root / "bench.db"
        port = free_port()
        node = Server([*prefix, sys.executable, "-m", "chatapp", "--port", str(port), "--db", str(db)],
                      port=port, env=ENV, cwd=root, name="chatapp", db=db, log_path=root / "node1.log")
        await node.astart()
        return Layout(name, [node], db=db)
    postgres = Postgres(root / "pg", prefix=prefix)
    await asyncio.to_thread(postgres.start)
    url = await asyncio.to_thread(postgres.create_database, "chatapp")
    redis = Redis(root / "redis")
    redis.cmd = [*prefix, *redis.cmd]
    await asyncio.to_thread(redis.start)
    env = {**ENV, "CHATAPP_DATABASE_URL": url, "CHATAPP_REDIS_URL": redis.url,
           "CHATAPP_SECRET": base64.urlsafe_b64encode(os.urandom(32)).decode()}  # one for all nodes
    nodes = []
    for i in range(int(name.split("-")[1])):
        port = free_port()
        node = Server([*prefix, sys.executable, "-m", "chatapp", "--port", str(port), "--db", str(root / f"n{i}.db")],
                      port=port, env=env, cwd=ROOT, name=f"node{i + 1}", log_path=root / f"node{i + 1}.log")
        await node.astart()
        nodes.append(node)
    return Layout(name, nodes, postgres, redis, url)


async def _clients(layout: Layout, rooms: int, per_room: int, run: Run, pad: str, prefix: str) -> list[WSClient]:
    """Each room's clients alternate between the nodes: every message has receivers on both.
    Each load has rooms of its own (``prefix``): client ids restart at 0 with every load."""
    gate = asyncio.Semaphore(100)
    ports = [n.port for n in layout.nodes]

    async def one(idx: int, room: str) -> WSClient:
        async with gate:
            return await connect_ws(idx, room, ports[idx % len(ports)], run, user=f"u{idx}", pad=pad)

    specs = [(r * per_room + i, f"{prefix}{r}") for r in range(rooms) for i in range(per_room)]
    return list(await asyncio.gather(*(one(i, room) for i, room in specs)))


class _Meter:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.wall = time.perf_counter()
        self.gen = time.process_time()
        self.cpu = layout.cpu()
        self.busy = machine_busy_seconds()

    def stop(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.wall
        after = self.layout.cpu()
        used = {k: after[k] - self.cpu.get(k, 0.0) for k in after}
        gen = time.process_time() - self.gen
        # Anything else on the machine (Redis, other jobs): the run is noisy past NOISY.
        other = max(0.0, (machine_busy_seconds() - self.busy - gen - sum(used.values())) / wall)
        return {"wall_s": round(wall, 3), "generator_cpu": round(gen / wall, 3),
                "cpu_s": {k: round(v, 3) for k, v in used.items()},
                "other_cpu": round(other, 3), "noisy": other >= NOISY}


async def cost(layout: Layout, *, rate: float, duration: float, rooms: int = 10, per_room: int = 20) -> dict[str, Any]:
    """A fixed offered rate; CPU per message and per delivery, latency same-node vs cross-node."""
    run = Run(latencies=True)
    clients = await _clients(layout, rooms, per_room, run, "x" * 48, "cost")
    same, cross = Run(latencies=True), Run(latencies=True)
    first, last = layout.nodes[0].port, layout.nodes[-1].port
    probe = await connect_ws(10_000, "probe", first, same, user="probe")
    ear_same = await connect_ws(10_001, "probe", first, same, user="ear1")
    ear_cross = await connect_ws(10_002, "probe", last, cross if last != first else same, user="ear2")
    try:
        await asyncio.sleep(SETTLE)
        total = int(rate * duration)
        probes = int(PROBE_RATE * duration)
        step, probe_step = 1e9 / rate, 1e9 / PROBE_RATE
        n = len(clients)
        order = [(k % rooms) * per_room + (k // rooms) % per_room for k in range(n)]
        meter = _Meter(layout)
        t0 = time.monotonic_ns() + 50_000_000
        k = p = 0
        while k < total or p < probes:
            now = time.monotonic_ns()
            while k < total and (due := t0 + int(k * step)) <= now:
                clients[order[k % n]].send(due)
                k += 1
            while p < probes and (due := t0 + int(p * probe_step)) <= now:
                probe.send(due)
                p += 1
            nxt = min(t0 + int(k * step) if k < total else 1 << 62, t0 + int(p * probe_step) if p < probes else 1 << 62)
            if nxt < 1 << 62:
                await _sleep_until(nxt)
        run.expect(total * per_room)
        same.expect(probes * (2 if last != first else 3))
        cross.expect(probes if last != first else 0)
        delivered = all([await _wait(run, DRAIN_TIMEOUT), await _wait(same, DRAIN_TIMEOUT),
                         await _wait(cross, DRAIN_TIMEOUT)])
        figures = meter.stop()
        assert run.latencies is not None and same.latencies is not None and cross.latencies is not None
        deliveries = run.delivered
        per_msg = {k: round(v * 1000 / max(total, 1), 3) for k, v in figures["cpu_s"].items()}
        per_delivery = {k: round(v * 1e6 / max(deliveries, 1), 2) for k, v in figures["cpu_s"].items()}
        problems = _verify(clients, run) + _verify([probe, ear_same, ear_cross], same) + cross.problems
        if not delivered:
            problems.append("not every delivery arrived")
        return {
            "metrics": {"offered_per_s": rate, "messages": total, "deliveries": deliveries,
                        "lost": total * per_room - deliveries, **_percentiles(run.latencies),
                        "same_node": _percentiles(same.latencies),
                        "cross_node": _percentiles(cross.latencies) if last != first else None,
                        "cpu_ms_per_message": per_msg,
                        "cpu_ms_per_message_total": round(sum(per_msg.values()), 3),
                        "cpu_us_per_delivery": per_delivery,
                        "cpu_us_per_delivery_total": round(sum(per_delivery.values()), 2), **figures},
            "problems": problems[:20],
            "sent": [(c.room, f"{c.idx}.{s}") for c in [*clients, probe] for s in range(c.sent)],
        }
    finally:
        await close_all([*clients, probe, ear_same, ear_cross])


async def burst(layout: Layout, *, duration: float, rooms: int = 10, per_room: int = 20,
                window: int = 4) -> dict[str, Any]:
    """Every client keeps ``window`` of its messages unanswered: the most this layout does."""
    run = Run()
    clients = await _clients(layout, rooms, per_room, run, "x" * 48, "burst")
    try:
        await asyncio.sleep(SETTLE)
        meter = _Meter(layout)
        start, messages, delivered = await offer_burst(clients, run, per_room, window, duration)
        figures = meter.stop()
        span = max(run.last_ns - start, 1) / 1e9
        per_msg = {k: round(v * 1000 / max(messages, 1), 3) for k, v in figures["cpu_s"].items()}
        problems = _verify(clients, run) + ([] if delivered else ["not every delivery arrived"])
        return {"metrics": {"messages": messages, "deliveries": run.delivered,
                            "lost": messages * per_room - run.delivered, "stored_per_s": round(messages / span),
                            "deliveries_per_s": round(run.delivered / span),
                            "cpu_ms_per_message": per_msg,
                            "cpu_ms_per_message_total": round(sum(per_msg.values()), 3), **figures},
                "problems": problems,
                "sent": [(c.room, f"{c.idx}.{s}") for c in clients for s in range(c.sent)]}
    finally:
        await close_all(clients)


def _row_problems(rows: Sequence[tuple[str, str | None, str]], sent: Sequence[tuple[str, str]]) -> list[str]:
    have: set[tuple[str, str]] = set()
    problems = []
    for room, client_id, body in rows:
        key = (room, str(client_id))
        if key in have:
            problems.append(f"row stored twice: {key}")
        have.add(key)
        idx, _, seq = str(client_id).partition(".")
        if not body.startswith(f"~{idx}~{seq}~"):
            problems.append(f"row {key} has body {body[:40]!r}")
    want = set(sent)
    if want - have:
        problems.append(f"{len(want - have)} messages sent but not stored, e.g. {sorted(want - have)[:3]}")
    if have - want:
        problems.append(f"{len(have - want)} rows nobody sent, e.g. {sorted(have - want)[:3]}")
    return problems[:20]


async def check_rows(layout: Layout, sent: Sequence[tuple[str, str]]) -> list[str]:
    """Every message sent is stored exactly once, with its own body (the database read directly)."""
    if layout.database_url is not None:
        conn = await asyncpg.connect(layout.database_url)
        try:
            rows = [(r[0], r[1], r[2]) for r in await conn.fetch("SELECT room, client_id, body FROM messages")]
        finally:
            await conn.close()
    else:
        assert layout.db is not None
        con = sqlite3.connect(f"file:{layout.db}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT room, client_id, body FROM messages").fetchall()
        finally:
            con.close()
    return _row_problems(rows, sent)


async def run_all(workdir: Path, prefix: list[str], *, rate: float, duration: float,
                  layouts: Sequence[str] = LAYOUTS) -> dict[str, Any]:
    """Both loads on every layout, each on fresh processes; rows checked after each."""
    results: dict[str, Any] = {}
    counter = itertools.count()
    for name in layouts:
        results[name] = {}
        for load in ("cost", "burst"):
            log.info("cluster %s: %s ...", name, load)
            layout = await start_layout(name, workdir, prefix, next(counter))
            try:
                if load == "cost":
                    out = await cost(layout, rate=rate, duration=duration)
                else:
                    out = await burst(layout, duration=duration)
                out["problems"] += await check_rows(layout, out.pop("sent"))
            finally:
                codes = await layout.stop()
            if any(c not in (0, -2, 130) for c in codes):
                out["problems"].append(f"a node exited with {codes}")
            results[name][load] = out
            log.info("cluster %s: %s %s", name, load, out["metrics"])
    return results


def costs(results: dict[str, Any]) -> dict[str, float] | None:
    """The per-message costs (CPU ms) a projection rests on, from the burst load of one node
    and of two: ``pg_write`` (PostgreSQL storing a message), ``pg_read`` (PostgreSQL serving it
    to one node's follower), ``node_share`` (a node's writing and delivering, split between
    the nodes) and ``node_each`` (what every node spends on every message: reading it back)."""
    try:
        one = results["pg-1"]["burst"]["metrics"]["cpu_ms_per_message"]
        two = results["pg-2"]["burst"]["metrics"]["cpu_ms_per_message"]
    except KeyError:
        return None
    pg_read = max(two["postgres"] - one["postgres"], 0.0)
    pg_write = max(one["postgres"] - pg_read, 0.0)
    node_each = max(two["node1"] + two["node2"] - one["node1"], 0.0)
    node_share = max(one["node1"] - node_each, 0.0)
    return {"pg_write": pg_write, "pg_read": pg_read, "node_share": node_share, "node_each": node_each}


def projection(results: dict[str, Any], nodes: Sequence[int] = (1, 2, 4, 8, 16),
               pg_cores: Sequence[int] = (1, 4, 16)) -> str:
    """A PROJECTION, not a measurement: messages per second k nodes (one core each) could
    store and deliver, and what P PostgreSQL cores could keep up with, from :func:`costs`,
    assuming every room has members on every node and PostgreSQL scales with its cores."""
    c = costs(results)
    if c is None:
        return ""
    lines = ["PROJECTION from the burst costs above (not measured): messages/s, rooms of 20 on every node",
             f"  per message: PostgreSQL {c['pg_write']:.3f} ms to store + {c['pg_read']:.3f} ms per following "
             f"node; nodes {c['node_share']:.3f} ms shared + {c['node_each']:.3f} ms on each node",
             f"  {'nodes':>5} {'nodes can do':>13}" + "".join(f"{f'PG {p} core(s)':>14}" for p in pg_cores)]
    for k in nodes:
        node_limit = 1000 / (c["node_share"] / k + c["node_each"])
        pg = [1000 * p / (c["pg_write"] + k * c["pg_read"]) for p in pg_cores]
        cells = "".join(f"{v:>13,.0f}{'*' if v < node_limit else ' '}" for v in pg)
        lines.append(f"  {k:>5} {node_limit:>13,.0f}{cells}")
    lines.append("  * PostgreSQL, not the nodes, is the limit there")
    return "\n".join(lines)


def table(results: dict[str, Any]) -> str:
    """The figures side by side: the SQLite baseline, one node, two nodes."""
    names = list(results)
    lines = [f"{'figure':<40}" + "".join(f"{n:>12}" for n in names), "-" * (40 + 12 * len(names))]

    def row(label: str, get: Any) -> None:
        values = []
        for n in names:
            try:
                v = get(results[n])
            except (KeyError, TypeError):
                v = None
            values.append("-" if v is None else (f"{v:,.3f}" if isinstance(v, float) and v < 100 else f"{v:,.0f}"))
        lines.append(f"{label:<40}" + "".join(f"{v:>12}" for v in values))

    row("cost: CPU ms / message, all processes", lambda r: r["cost"]["metrics"]["cpu_ms_per_message_total"])
    for part in ("node1", "node2", "postgres"):
        row(f"cost:   of which {part}", lambda r, p=part: r["cost"]["metrics"]["cpu_ms_per_message"][p])
    row("cost: CPU us / delivery, all processes", lambda r: r["cost"]["metrics"]["cpu_us_per_delivery_total"])
    row("cost: latency p50 ms (all clients)", lambda r: r["cost"]["metrics"]["p50_ms"])
    row("cost: latency p99 ms (all clients)", lambda r: r["cost"]["metrics"]["p99_ms"])
    row("cost: same-node p50 ms", lambda r: r["cost"]["metrics"]["same_node"]["p50_ms"])
    row("cost: same-node p99 ms", lambda r: r["cost"]["metrics"]["same_node"]["p99_ms"])
    row("cost: cross-node p50 ms", lambda r: r["cost"]["metrics"]["cross_node"]["p50_ms"])
    row("cost: cross-node p99 ms", lambda r: r["cost"]["metrics"]["cross_node"]["p99_ms"])
    row("burst: stored / s (one core)", lambda r: r["burst"]["metrics"]["stored_per_s"])
    row("burst: deliveries / s (one core)", lambda r: r["burst"]["metrics"]["deliveries_per_s"])
    row("burst: CPU ms / message, all processes", lambda r: r["burst"]["metrics"]["cpu_ms_per_message_total"])
    row("burst:   of which postgres", lambda r: r["burst"]["metrics"]["cpu_ms_per_message"]["postgres"])
    row("deliveries lost (both loads)", lambda r: r["cost"]["metrics"]["lost"] + r["burst"]["metrics"]["lost"])
    return "\n".join(lines)


"""The results: the table printed at the end of a run, the targets, and the machine it ran on."""

from __future__ import annotations

import fnmatch
import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

# (scenario, metric, unit, lower is better)
ROWS: tuple[tuple[str, str, str, bool], ...] = (
    ("fanout", "p50_ms", "ms", True),
    ("fanout", "p95_ms", "ms", True),
    ("fanout", "p99_ms", "ms", True),
    ("fanout", "max_ms", "ms", True),
    ("fanout", "lost", "deliveries", True),
    ("fanout", "server_cpu", "cores", True),
    ("burst-*", "stored_per_s", "msg/s", False),
    ("burst-*", "deliveries_per_s", "deliveries/s", False),
    ("burst-*", "lost", "deliveries", True),
    ("burst-*", "server_cpu", "cores", True),
    ("idle-*", "held", "sockets", False),
    ("idle-*", "connect_s", "s", True),
    ("idle-*", "broadcast_s", "s", True),
    ("idle-*", "peak_rss_mb", "MiB", True),
    ("idle-*", "kb_per_connection", "KiB", True),
    ("idle-*", "lost", "deliveries", True),
    ("history", "pages_per_s", "pages/s", False),
    ("history", "api_per_s", "requests/s", False),
    ("sidebar", "member_pages_per_s", "pages/s", False),
    ("sidebar", "one_room_member_pages_per_s", "pages/s", False),
    ("sidebar", "guest_pages_per_s", "pages/s", False),
    ("sidebar", "member_page_cpu_ms", "ms", True),
    ("sidebar", "one_room_member_page_cpu_ms", "ms", True),
    ("sidebar", "guest_page_cpu_ms", "ms", True),
    ("sidebar", "join_p50_ms", "ms", True),
    ("sidebar", "one_room_join_p50_ms", "ms", True),
    ("sidebar", "upgrade_p50_ms", "ms", True),
    ("sidebar", "join_cpu_ms", "ms", True),
    ("sidebar", "one_room_join_cpu_ms", "ms", True),
    ("sidebar", "upgrade_cpu_ms", "ms", True),
    ("mentions", "room_*_plain_cpu_ms", "ms/msg", True),
    ("mentions", "room_*_mentions_cpu_ms", "ms/msg", True),
    ("mentions", "room_*_plain_broadcast_s", "s", True),
    ("mentions", "room_*_mentions_broadcast_s", "s", True),
    ("search", "fill_messages", "messages", False),
    ("search", "fill_insert_s", "s", True),
    ("search", "alone_p99_ms", "ms", True),
    ("search", "alone_cpu_ms_per_search", "ms", True),
    ("search", "p50_ms", "ms", True),
    ("search", "p95_ms", "ms", True),
    ("search", "p99_ms", "ms", True),
    ("search", "max_ms", "ms", True),
    ("search", "page_p99_ms", "ms", True),
    ("search", "api_p99_ms", "ms", True),
    ("search", "searches", "searches", False),
    ("search", "busy", "searches", True),
    ("search", "failed", "searches", True),
    ("search", "stored_per_s", "msg/s", False),
    ("search", "server_cpu", "cores", True),
    ("search", "other_cpu", "cores", True),
    ("storm", "catch_up_s", "s", True),
    ("storm", "connect_s", "s", True),
    ("storm", "restart_s", "s", True),
    ("storm", "shutdown_s", "s", True),
    ("storm", "last_back_s", "s", True),
    ("storm", "last_timer_s", "s", True),
    ("storm", "backfill_max_s", "s", True),
    ("storm", "total_s", "s", True),
    ("storm", "reconnect_attempts", "attempts", True),
    ("storm", "storm_messages", "messages", False),
    ("storm", "duplicates", "deliveries", True),
    ("storm", "gaps", "deliveries", True),
    ("page", "member_pages_per_s", "pages/s", False),
    ("page", "member_page_cpu_ms", "ms", True),
    ("page", "guest_pages_per_s", "pages/s", False),
    ("page", "guest_page_cpu_ms", "ms", True),
    ("page", "member_page_kb", "KiB", True),
)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _natural(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'scenario':<12} {'figure':<30} {'chatapp':>12} {'reference':>12} {'ratio':>7}  unit",
             "-" * 84]
    for scenario, by_server in results.items():
        for pattern, metric, unit, _ in ROWS:
            if pattern != scenario and not (pattern.endswith("*") and scenario.startswith(pattern[:-1])):
                continue
            figures = by_server.get("chatapp", {}).get("metrics", {})
            # A "*" in a metric stands for a part that varies (mentions: room_<size>_...).
            names = sorted((m for m in figures if fnmatch.fnmatch(m, metric)), key=_natural) if "*" in metric \
                else [metric]
            for name in names:
                ours = figures.get(name)
                ref = by_server.get("reference", {}).get("metrics", {}).get(name)
                numeric = isinstance(ours, int | float) and isinstance(ref, int | float)
                ratio = f"{ours / ref:.2f}" if numeric and ref else "-"
                lines.append(f"{scenario:<12} {name:<30} {_fmt(ours):>12} {_fmt(ref):>12} {ratio:>7}  {unit}")
    return "\n".join(lines)


def _m(results: dict[str, dict[str, Any]], scenario: str, server: str, metric: str) -> Any:
    return results.get(scenario, {}).get(server, {}).get("metrics", {}).get(metric)


def targets(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and whether it was met."""
    out: list[dict[str, Any]] = []

    def ratio(scenario: str, metric: str) -> float | None:
        ours, ref = _m(results, scenario, "chatapp", metric), _m(results, scenario, "reference", metric)
        return round(ours / ref, 3) if ours is not None and ref else None

    def add(name: str, value: Any, met: bool | None) -> None:
        out.append({"target": name, "value": value, "met": met})

    for scenario in sorted((s for s in results if s.startswith("burst-")), key=_natural):
        r = ratio(scenario, "deliveries_per_s")
        add(f"{scenario} (people per room): deliveries/s >= 1.0 x reference", r, r is not None and r >= 1.0)
    if "idle-2000" in results:
        r = ratio("idle-2000", "broadcast_s")
        add("idle 2,000: 100 broadcasts delivered in <= 1.5 x reference", r, r is not None and r <= 1.5)
        r = ratio("idle-2000", "peak_rss_mb")
        add("idle 2,000: peak RSS <= 1.5 x reference", r, r is not None and r <= 1.5)
    if "idle-10000" in results:
        held = _m(results, "idle-10000", "chatapp", "held")
        add("idle: 10,000 connections held", held, held == 10_000)
    if "fanout" in results:
        lost = _m(results, "fanout", "chatapp", "lost")
        r50, r99 = ratio("fanout", "p50_ms"), ratio("fanout", "p99_ms")
        add("fanout 2,000 msg/s: p50 <= 3 x reference", r50, r50 is not None and r50 <= 3)
        add("fanout 2,000 msg/s: p99 <= 1.5 x reference", r99, r99 is not None and r99 <= 1.5)
        add("fanout: everything delivered", lost, lost == 0)
    if "history" in results:
        pages = _m(results, "history", "chatapp", "pages_per_s")
        add("history: guest room page of 50 plain messages (10,000 stored) >= 1,000 pages/s", pages,
            pages is not None and pages >= 1000)
    if "search" in results:
        p99 = _m(results, "search", "chatapp", "p99_ms")
        filled = _m(results, "search", "chatapp", "fill_messages") or 0
        add("search: three-letter query p99 <= 50 ms on 1,000,000 messages during a burst", p99,
            p99 is not None and p99 <= 50 and filled >= 1_000_000)
    if "storm" in results:
        r = ratio("storm", "catch_up_s")
        add("storm: last client caught up <= 2 x relay's 5,000 fresh connections", r, r is not None and r <= 2)
    if "page" in results:
        pages = _m(results, "page", "chatapp", "member_pages_per_s")
        add("page: room page with 50 formatted messages, replies, reactions, sidebar >= 1,000 pages/s", pages,
            pages is not None and pages >= 1000)
    problems = sum(len(r.get("problems", [])) for s in results.values() for r in s.values())
    add("no lost delivery, no missing row (problems found)", problems, problems == 0)
    return out


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=False, capture_output=True,
                                text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    mem_kb = 0
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": model, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "aiohttp": version("aiohttp"), "orjson": version("orjson"),
            "uvloop": version("uvloop"), "commit": commit}

"""``python -m bench``: run the scenarios against chatapp and the reference, print, write JSON.

Each scenario runs against a fresh reference server, then a fresh chatapp with an empty
database, under the same load. After chatapp stops, its database is compared with what
the generator sent. ``--quick`` is a short smoke run of every scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from . import attention, report, scenarios, servers

log = logging.getLogger("bench")

SCENARIOS = ("fanout", "burst", "idle", "history", "sidebar", "mentions", "storm", "search", "page")
# Attention needs members and their pages: the reference relay has neither.
CHATAPP_ONLY = frozenset({"sidebar", "mentions", "search", "page"})
BURST_CLIENTS = 200  # burst keeps the number of clients and varies the room size
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"
CLUSTER_OUT = DEFAULT_OUT.with_name("cluster.json")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="short smoke run (under a minute)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help=f"comma-separated subset of {', '.join(SCENARIOS)}")
    p.add_argument("--servers", default="reference,chatapp", help="comma-separated: reference, chatapp")
    p.add_argument("--idle-sizes", default=None, help="connection counts for idle (default 2000,10000)")
    p.add_argument("--room-sizes", default=None,
                   help="people per room for burst, 200 clients in all (default 2,10,20,100)")
    p.add_argument("--duration", type=float, default=None, help="seconds of load for fanout and burst")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    p.add_argument("--chatapp-tree", type=Path, default=None, metavar="DIR",
                   help="run chatapp from this source tree (a candidate change) instead")
    p.add_argument("--profile", type=Path, default=None, metavar="DIR",
                   help="attach py-spy to chatapp in each scenario; raw stacks go to DIR")
    p.add_argument("--cluster", action="store_true",
                   help="instead: chatapp on PostgreSQL, one node and two, beside SQLite (bench/cluster.py; "
                        f"JSON in {CLUSTER_OUT} unless --out)")
    p.add_argument("--cluster-rate", type=float, default=400.0, metavar="MSG/S",
                   help="the cluster cost load's offered messages per second (default 400)")
    return p


Job = Callable[[servers.Server], Awaitable[scenarios.Outcome]]


def _jobs(args: argparse.Namespace) -> list[tuple[str, Job, int]]:
    """(name, scenario, history messages the reference preloads) in run order."""
    quick = args.quick
    duration = args.duration or (2.0 if quick else 10.0)
    sizes = [int(n) for n in (args.idle_sizes or ("1000" if quick else "2000,10000")).split(",")]
    stored = 2_000 if quick else 10_000
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    jobs: list[tuple[str, Job, int]] = []
    for name in chosen:
        if name == "fanout":
            jobs.append(("fanout", lambda s: scenarios.fanout(s, duration=duration), 0))
        elif name == "burst":
            for size in [int(n) for n in (args.room_sizes or ("20" if quick else "2,10,20,100")).split(",")]:
                jobs.append((f"burst-{size}", lambda s, size=size: scenarios.burst(  # type: ignore[misc]
                    s, rooms=max(1, BURST_CLIENTS // size), per_room=size, duration=duration), 0))
        elif name == "idle":
            for n in sizes:
                jobs.append((f"idle-{n}", lambda s, n=n: scenarios.idle(s, connections=n), 0))  # type: ignore[misc]
        elif name == "history":
            jobs.append(("history", lambda s: scenarios.history(
                s, messages=stored, duration=1.0 if quick else 5.0, fill=s.name == "chatapp"), stored))
        elif name == "sidebar":
            jobs.append(("sidebar", lambda s: attention.sidebar(s, duration=1.0 if quick else 5.0), 0))
        elif name == "mentions":
            jobs.append(("mentions", lambda s: attention.mentions(
                s, sizes=(100, 300) if quick else (200, 1000), messages=50 if quick else 200), 0))
        elif name == "storm":
            from . import storm
            jobs.append(("storm", lambda s: storm.storm(s, quick=quick), 0))
        elif name == "search":
            from . import searchload
            jobs.append(("search", lambda s: searchload.search(s, quick=quick), 0))
        elif name == "page":
            from . import pages
            jobs.append(("page", lambda s: pages.page(s, quick=quick), 0))
    return jobs


async def _one(kind: str, name: str, job: Job, preload: int, workdir: Path, prefix: list[str],
               profile: Path | None, tree: Path | None) -> dict[str, Any]:
    if kind == "chatapp":
        server = servers.chatapp(workdir, prefix, send_queue=100_000, tree=tree)
    else:
        server = servers.reference(workdir, prefix, history=preload)
    await server.astart()
    if profile is not None and kind == "chatapp":
        profile.mkdir(parents=True, exist_ok=True)
        server.start_profiler(profile / f"{name}.txt")
    problems: list[str] = []
    outcome: scenarios.Outcome | None = None
    try:
        outcome = await job(server)
        problems += outcome.problems
    except Exception as exc:  # a failed scenario is a result too; the others still run
        log.exception("%s on %s failed", name, kind)
        problems.append(f"scenario failed: {exc!r}")
    finally:
        code = await server.astop()
    if code not in (0, -2, 130):
        problems.append(f"{kind} exited with {code}:\n{server.log(30)}")
    if server.db is not None and outcome is not None:
        problems += servers.check_database(server.db, outcome.sent)
    return {"metrics": outcome.metrics if outcome else {}, "problems": problems}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    fds = servers.raise_fd_limit()
    prefix, gen_cpus = servers.pinning()
    if gen_cpus is not None:
        os.sched_setaffinity(0, gen_cpus)  # the generator's core; servers get the other one
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    results: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="chatapp-bench-") as tmp:
        for name, job, preload in _jobs(args):
            results[name] = {}
            for kind in kinds:
                if name in CHATAPP_ONLY and kind != "chatapp":
                    continue
                log.info("%s: %s ...", name, kind)
                t = time.perf_counter()
                results[name][kind] = await _one(kind, name, job, preload, Path(tmp), prefix, args.profile,
                                                 args.chatapp_tree)
                res = results[name][kind]
                log.info("%s: %s done in %.1fs %s%s", name, kind, time.perf_counter() - t,
                         json.dumps(res["metrics"]), f" PROBLEMS: {res['problems']}" if res["problems"] else "")
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": report.machine(),
        "pinned": {"server": prefix[-1] if prefix else None,
                   "generator": sorted(gen_cpus) if gen_cpus else None},
        "open_files_limit": fds,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "results": results,
        "targets": report.targets(results),
    }


async def cluster_async(args: argparse.Namespace) -> dict[str, Any]:
    from . import cluster  # needs the PostgreSQL, Redis and asyncpg a cluster runs on

    servers.raise_fd_limit()
    prefix, gen_cpus = servers.pinning()
    if gen_cpus is not None:
        os.sched_setaffinity(0, gen_cpus)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="chatapp-bench-cluster-") as tmp:
        Path(tmp).chmod(0o755)  # PostgreSQL runs as the postgres user: it must reach its directory
        results = await cluster.run_all(Path(tmp), prefix, rate=args.cluster_rate,
                                        duration=args.duration or (3.0 if args.quick else 10.0))
    return {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "quick": args.quick,
            "machine": report.machine(), "pinned": {"servers": prefix[-1] if prefix else None},
            "elapsed_s": round(time.perf_counter() - started, 1), "results": results}


def cluster_main(args: argparse.Namespace) -> int:
    from . import cluster

    out = asyncio.run(cluster_async(args))
    path = args.out if args.out != DEFAULT_OUT else CLUSTER_OUT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(cluster.table(out["results"]))
    print()
    print(cluster.projection(out["results"]))
    problems = [(lay, load, p) for lay, r in out["results"].items() for load, v in r.items() for p in v["problems"]]
    for lay, load, p in problems:
        print(f"  PROBLEM {lay}/{load}: {p}")
    print(f"\n  {out['machine']['cpu']}, {out['machine']['cores']} cores, every server process on core "
          f"{out['pinned']['servers']}; took {out['elapsed_s']}s; JSON in {path}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if args.cluster:
        return cluster_main(args)
    out = asyncio.run(main_async(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(report.table(out["results"]))
    print()
    for t in out["targets"]:
        mark = "met" if t["met"] else "NOT MET"
        print(f"  [{mark:>7}] {t['target']}: {t['value']}")
    saturated = [f"{s}/{k}" for s, r in out["results"].items() for k, v in r.items()
                 if v["metrics"].get("generator_saturated")]
    if saturated:
        print(f"\n  WARNING: the load generator was saturated in {', '.join(saturated)}; "
              "those figures measure the generator, not the server.")
    noisy = [f"{s}/{k}" for s, r in out["results"].items() for k, v in r.items()
             if v["metrics"].get("noisy")]
    if noisy:
        print(f"\n  WARNING: other programs used the CPU during {', '.join(noisy)} "
              "(see other_cpu in the JSON); run again on a quiet machine.")
    problems = [(s, k, p) for s, r in out["results"].items() for k, v in r.items() for p in v["problems"]]
    for s, k, p in problems:
        print(f"  PROBLEM {s}/{k}: {p}")
    print(f"\n  {out['machine']['cpu']}, {out['machine']['cores']} cores; "
          f"took {out['elapsed_s']}s; JSON in {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""The search scenario (issue 17), chatapp only: three-letter queries on 1,000,000 stored
messages (``--quick``: 50,000) while a burst runs.

- **Fill**: chat text from a fixed vocabulary (common English words, then made-up ones,
  drawn with a Zipf-like spread, fixed seed) in twelve rooms of different sizes, one of
  them private; four rooms also carry rare words of their own. The generator opens the
  server's database file with chatapp's own storage (:func:`chatapp.storage.open_storage`)
  while the server runs and inserts through ``insert_messages`` in batches, so the real
  triggers keep the room counters and the search index; each body is rendered as the
  writer would. Every row is in the benchmark's format (body ``~idx~seq~0~text``, client_id
  ``idx.seq``) and goes into ``sent``, so the database check afterwards covers it too.
- **Load**: a few seconds of searches alone (the server CPU per search), then the burst of
  :func:`bench.scenarios.burst` (10 rooms x 20 clients, window 4) with searches at a steady
  rate all along: guests on ``/search`` (the page the top bar opens) and ``/api/search``,
  common terms, rare ones, one that starts many words, one filtered by room. The searchers
  run in a process of their own, so the burst's clients in this one cannot delay their
  clock; a searcher that falls behind sends at once, so its lateness is not hidden.
- A result from the private room in a guest's answer is a problem: privacy is checked too.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import random
import sys
import time
from typing import Any

from chatapp.formatting import render
from chatapp.storage import NewRow, open_storage

from .scenarios import SETTLE, Meter, Outcome, _percentiles, _sent_rows, _sleep_until, _specs, _verify, offer_burst
from .servers import Server
from .wsclient import Run, close_all, connect_many

FILL = 1_000_000
QUICK_FILL = 50_000
FILL_BATCH = 2_000  # rows per insert: 20,000 bound values, under SQLite's 32,766
FILL_IDX = 100_000  # fill "senders" are idx 100000+room, far from the burst's clients
SEED = 17
SEARCHERS = 4
SEARCH_RATE = 20.0  # searches per second, all searchers together
BURST_S, QUICK_BURST_S = 20.0, 3.0
ALONE_S, QUICK_ALONE_S = 5.0, 1.0
PRIVATE_ROOM = "leadership"

# The most common English words, roughly by frequency; made-up words follow them.
COMMON = """the to and a i you it of is that in for on this we be have are with not
but just do so can what will if at get all my me was your about they like it's there one
out up no know think now yes from how or go good should need time then see here would
make when some more also lol ok thanks by an which today work still did as been want
because right back going people could test thing new let got really where deploy build
other look well too only check why into any fix way sure them day after before maybe
great something use those these after first over said never last again our much take
release issue merge branch review change config server client meeting tomorrow morning
question problem working update status team data report support customer version please
code error logs failed running running continue contract control consider connection
content context conference confirm contact condition concern convert console container
production staging testing pending process project progress provide proposal protocol
nothing anything everything someone interesting morning evening coming thinking looking
""".split()
# Words only some rooms use, and rarely: their trigrams (xyl, kub, zep, qov) occur nowhere else.
RARE = {"ops": ["kubelet", "kubectl"], "dev": ["xylophone"], "random": ["zeppelin"],
        "design": ["qovarian"]}
# Rooms: (name, share of the messages); PRIVATE_ROOM is private, the rest public.
ROOMS = [("general", 0.22), ("dev", 0.16), ("ops", 0.12), ("random", 0.10), (PRIVATE_ROOM, 0.08),
         ("support", 0.08), ("design", 0.06), ("sales", 0.05), ("infra", 0.05), ("qa", 0.04),
         ("mobile", 0.02), ("offtopic", 0.02)]
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
         "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yolanda"]
# (query, room filter): the most common trigram, a common suffix, the start of many words
# (contract, control, conference, ...), rare words (one room each), one common word in one room.
QUERIES = [("the", None), ("ing", None), ("con", None), ("xyl", None), ("kub", None),
           ("zep", None), ("dep", "ops")]


def vocabulary(rng: random.Random, made_up: int = 4000) -> tuple[list[str], list[float]]:
    """Words and their cumulative weights: Zipf (s = 1.1) over rank."""
    onsets = ["b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "l", "m", "n", "p", "pl", "r", "s",
              "sh", "st", "t", "tr", "v", "w"]
    words = list(dict.fromkeys(COMMON))
    seen = set(words)
    while len(words) < len(COMMON) + made_up:
        word = "".join(rng.choice(onsets) + rng.choice("aeiou") + rng.choice(["", "n", "r", "s", "t", "m"])
                       for _ in range(rng.choice((1, 2, 2, 3))))
        rare = any(t in word for t in ("xyl", "kub", "zep", "qov"))
        if word not in seen and not rare:
            seen.add(word)
            words.append(word)
    weights = list(itertools.accumulate(1.0 / (rank + 1) ** 1.1 for rank in range(len(words))))
    return words, weights


def fill_rows(total: int, ts_start: dt.datetime) -> tuple[list[NewRow], list[tuple[str, str]]]:
    """``total`` messages (deterministic) and their (room, client_id)."""
    rng = random.Random(SEED)
    words, cum = vocabulary(rng)
    lengths = [2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 8, 8, 9, 10, 12, 14, 16, 20, 25, 30]
    names = [name for name, _ in ROOMS]
    rooms = rng.choices(range(len(ROOMS)), weights=[share for _, share in ROOMS], k=total)
    sizes = rng.choices(lengths, k=total)
    drawn = iter(rng.choices(words, cum_weights=cum, k=sum(sizes)))
    seqs = [0] * len(ROOMS)
    rows: list[NewRow] = []
    sent: list[tuple[str, str]] = []
    for i in range(total):
        r = rooms[i]
        room = names[r]
        text = " ".join(next(drawn) for _ in range(sizes[i]))
        rare = RARE.get(room)
        if rare and rng.random() < 0.002:
            text += " " + rng.choice(rare)
        idx, seq = FILL_IDX + r, seqs[r]
        seqs[r] += 1
        body = f"~{idx}~{seq}~0~{text}"
        ts = ts_start + dt.timedelta(seconds=3 * i)
        rows.append(NewRow(room, rng.choice(USERS), body, ts.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                           f"{idx}.{seq}", html=render(body)))
        sent.append((room, f"{idx}.{seq}"))
    return rows, sent


async def fill(server: Server, total: int) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Insert ``total`` messages into the running server's database; timings and what was sent."""
    assert server.db is not None
    t = time.perf_counter()
    rows, sent = await asyncio.to_thread(fill_rows, total, dt.datetime(2025, 1, 6, 8, tzinfo=dt.UTC))
    generated = time.perf_counter() - t
    store = await open_storage(str(server.db))
    try:
        await store.create_room(PRIVATE_ROOM, "private", "2025-01-06T08:00:00.000Z", [])
        t = time.perf_counter()
        for start in range(0, total, FILL_BATCH):
            await store.insert_messages(rows[start:start + FILL_BATCH])
        inserted = time.perf_counter() - t
    finally:
        await store.close()
    return {"fill_messages": total, "fill_generate_s": round(generated, 1), "fill_insert_s": round(inserted, 1),
            "fill_per_s": round(total / inserted)}, sent


# ---- the searchers: a process of their own (python -m bench.searchload --port ...)

def _paths() -> list[str]:
    out = []
    for q, room in QUERIES:
        filt = f"&room={room}" if room else ""
        out += [f"/search?q={q}{filt}", f"/api/search?q={q}{filt}"]
    return out


async def _search_for(port: int, seconds: float, rate: float, searchers: int) -> list[tuple[str, int, int, bool]]:
    """(path, status, latency ns, private room shown) of each search, ``rate`` a second in all."""
    import aiohttp

    paths = _paths()
    out: list[tuple[str, int, int, bool]] = []
    step = int(searchers / rate * 1e9)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
        async def searcher(k: int) -> None:
            due = start + k * step // searchers
            for n in itertools.count(k * 3):
                if due >= until:
                    return
                await _sleep_until(due)
                path = paths[n % len(paths)]
                sent = time.monotonic_ns()
                async with http.get(path) as response:
                    body = await response.read()
                took = time.monotonic_ns() - sent
                leak = (b'"room":"%s"' % PRIVATE_ROOM.encode() in body or
                        b"/rooms/%s?" % PRIVATE_ROOM.encode() in body)
                out.append((path, response.status, took, leak))
                due += step  # steady: a late answer makes the next one go at once, not later

        for path in paths:  # template compilation and cold pages are not what is measured
            async with http.get(path) as response:
                await response.read()
        print("ready", flush=True)
        sys.stdin.readline()
        start = time.monotonic_ns()
        until = start + int(seconds * 1e9)
        await asyncio.gather(*(searcher(k) for k in range(searchers)))
    return out


async def _searches(server: Server, seconds: float) -> tuple[asyncio.subprocess.Process, asyncio.Future[bytes]]:
    """Start the searchers; once ready they begin when told, and the future holds their JSON."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.searchload", "--port", str(server.port), "--seconds", str(seconds),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    async with asyncio.timeout(30):
        assert (await proc.stdout.readline()).strip() == b"ready"
    proc.stdin.write(b"go\n")
    return proc, asyncio.ensure_future(proc.stdout.read())


def _figures(results: list[tuple[str, int, int, bool]], prefix: str = "") -> dict[str, Any]:
    ok = [took for _, status, took, _ in results if status == 200]
    fig: dict[str, Any] = {f"{prefix}{k}": v for k, v in _percentiles(ok).items()}
    fig[f"{prefix}searches"] = len(ok)
    fig[f"{prefix}busy"] = sum(1 for _, status, _, _ in results if status == 503)
    fig[f"{prefix}failed"] = sum(1 for _, status, _, _ in results if status not in (200, 503))
    return fig


def _by_kind(results: list[tuple[str, int, int, bool]]) -> dict[str, Any]:
    fig: dict[str, Any] = {}
    for kind, start in (("page", "/search?"), ("api", "/api/")):
        mine = [took for path, status, took, _ in results if status == 200 and path.startswith(start)]
        fig[f"{kind}_p99_ms"] = _percentiles(mine).get("p99_ms")
    for q, room in QUERIES:
        key = f"q={q}" + (f"&room={room}" if room else "")
        mine = [took for path, status, took, _ in results if status == 200 and path.endswith(key)]
        fig[f"q_{q}{'_' + room if room else ''}_p99_ms"] = _percentiles(mine).get("p99_ms")
    return fig


async def _collect(proc: asyncio.subprocess.Process, out: asyncio.Future[bytes]) -> list[tuple[str, int, int, bool]]:
    async with asyncio.timeout(120):
        raw = await out
        await proc.wait()
    return [(str(path), int(status), int(took), bool(leak)) for path, status, took, leak in json.loads(raw)]


async def search(server: Server, *, quick: bool) -> Outcome:
    total = QUICK_FILL if quick else FILL
    figures, sent = await fill(server, total)
    problems: list[str] = []
    # Searches alone first: the server's CPU per search, with nothing else running.
    alone_s = QUICK_ALONE_S if quick else ALONE_S
    proc, out = await _searches(server, alone_s)
    meter = Meter(server)
    alone = await _collect(proc, out)
    cpu = meter.stop()
    figures |= _figures(alone, "alone_")
    figures["alone_cpu_ms_per_search"] = round(cpu["server_cpu"] * cpu["wall_s"] * 1000 / max(1, len(alone)), 2)
    figures["alone_other_cpu"] = cpu["other_cpu"]
    # Then the burst, with the same searches all along.
    rooms, per_room, window = 10, 20, 4
    duration = QUICK_BURST_S if quick else BURST_S
    run = Run()
    clients = await connect_many(_specs(rooms, per_room), server.port, run, pad="x" * 48)
    try:
        await asyncio.sleep(SETTLE)
        proc, out = await _searches(server, duration)
        meter = Meter(server)
        start, messages, delivered_all = await offer_burst(clients, run, per_room, window, duration, 60.0)
        during = await _collect(proc, out)
        cpu = meter.stop()
        span = max(run.last_ns - start, 1) / 1e9
        figures |= _figures(during) | _by_kind(during)
        figures |= {"messages": messages, "stored_per_s": round(messages / span),
                    "lost": messages * per_room - run.delivered, "delivered_all": delivered_all, **cpu}
        problems += _verify(clients, run)
        sent += _sent_rows(clients)
    finally:
        await close_all(clients)
    leaks = sum(1 for r in alone + during if r[3])
    if leaks:
        problems.append(f"{leaks} searches by a guest showed the private room {PRIVATE_ROOM!r}")
    if figures["failed"] or figures["alone_failed"]:
        problems.append(f"{figures['failed'] + figures['alone_failed']} searches failed")
    return Outcome(figures, problems, sent)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.searchload", description="the searchers (see the docstring)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--rate", type=float, default=SEARCH_RATE)
    p.add_argument("--searchers", type=int, default=SEARCHERS)
    args = p.parse_args()
    results = asyncio.run(_search_for(args.port, args.seconds, args.rate, args.searchers))
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()

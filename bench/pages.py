"""The ``page`` scenario (issue 17), chatapp only: the room page people actually load.

A member whose sidebar holds 50 rooms (40 with news, 10 of those mentioning them, as in
``sidebar``) opens ``room-0``, which holds 60 messages: Markdown of every kind the renderer
makes (bold, italics, code, code blocks, links, lists, quotes), replies, reactions from two
members, messages from the member themself (which carry their source for editing), guests
and a bot. The page shows the newest 50. Pages per second and server CPU per page, for
that member and for a guest looking at the same room (no sidebar, no session).

The number of SQL statements a page costs is not counted here (that would need a counter
in the product); tests/test_room_page_queries.py counts them on a real database instead.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from chatapp.bots import manage
from chatapp.storage import open_storage

from .attention import SIDEBAR_ROOMS, Poster, _cycle, cpu_ms, fill_sidebar, log_in, make_members, sidebar_problems
from .scenarios import SETTLE, Outcome, _http_load
from .servers import Server

ROOM = "room-0"
CONNECTIONS = 16

# What people write, Markdown and all; the benchmark's "~idx~seq~0~" goes in front of each.
_TEXTS = (
    "**Deploy** finished: the log is at https://example.com/builds/42",
    "Use `make bench`, then `python -m bench.profile_summary /tmp/prof/page.txt`",
    "Plan for today:\n- **review** the sidebar\n- fix `room.html`\n- read [the docs](https://example.org/docs)",
    "sounds good, thanks",
    "code:\n```\ndef double(x):\n    return x * 2\n```",
    "steps:\n1. first\n2. second\n3. *third*, with _emphasis_",
    "re:\n> the page is slow\n\nit is the template, I think",
    "~~no~~ yes: see <https://example.net/a?b=c&d=e> & the numbers < 5",
    "who broke the build? @bench have a look",
    "lunch at 12:30?",
)
_EMOJI = ("👍", "🎉", "❤️", "👀")


async def _post_as_bot(server: Server, idx: int, texts: list[str]) -> list[tuple[str, str]]:
    """A bot made on the database (as ``chatapp bots create`` does), posting over the API."""
    assert server.db is not None
    store = await open_storage(str(server.db), busy_timeout_ms=10_000)
    try:
        made = await manage.create(store, "deploybot")
    finally:
        await store.close()
    sent = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {made.token}"}) as http:
        for seq, text in enumerate(texts):
            client_id = f"{idx}.{seq}"
            response = await http.post(f"{server.url}/api/rooms/{ROOM}/messages",
                                       json={"message": f"~{idx}~{seq}~0~{text}", "client_id": client_id})
            assert response.status == 201, f"the bot's post failed: {response.status} {await response.text()}"
            sent.append((ROOM, client_id))
    return sent


async def _fill_room(member: Poster, friend: Poster, guest: Poster, server: Server) -> list[tuple[str, str]]:
    """60 messages in :data:`ROOM`: six rounds of ten, by the member, a friend and a guest in
    turn; a reply now and then; reactions from both members on about one in three."""
    ids: list[int] = []
    bot_sent: list[tuple[str, str]] = []
    for round_ in range(6):
        for k, text in enumerate(_TEXTS):
            author = (member, friend, guest)[(round_ + k) % 3]
            answers = ids[-3] if len(ids) >= 3 and k % 4 == 1 else None  # 15 replies
            ids += await author.post(ROOM, [text], [answers])
        if round_ == 2:
            bot_sent = await _post_as_bot(server, 3, ["**build 42** passed: `all green`"])
    await member.react(ROOM, [(i, _EMOJI[n % 4]) for n, i in enumerate(ids[::3])])
    await friend.react(ROOM, [(i, _EMOJI[n % 2]) for n, i in enumerate(ids[::6])])
    return bot_sent


def _page_problems(body: bytes, member: bool) -> list[str]:
    """What the member's (or guest's) page must show, so a broken page is not measured as fast."""
    shown = body.count(b'<li class="message') - 1  # the one in the message <template> aside
    problems = [] if shown == 50 else [f"the page showed {shown} messages, not 50"]
    wanted = [b"<strong>", b"<code>", b"<pre>", b"<ul>", b"<ol>", b"<blockquote>", b'<a href="https://',
              b'class="reply-quote', b'class="reaction"', b'class="message bot']
    for part in wanted + ([b"data-source="] if member else []):
        if part not in body:
            problems.append(f"the {'member' if member else 'guest'}'s page has no {part.decode()}")
    if not member and b"data-source=" in body:
        problems.append("the guest's page carries a member's source text")
    return problems


async def page(server: Server, *, quick: bool) -> Outcome:
    duration = 1.0 if quick else 5.0
    await make_members(server, ["bench", "friend"])
    member = Poster(server, 0, await log_in(server, "bench"))
    guest = Poster(server, 1)
    friend = Poster(server, 2, await log_in(server, "friend"))
    await fill_sidebar(member, guest, SIDEBAR_ROOMS)
    bot_sent = await _fill_room(member, friend, guest, server)
    await asyncio.sleep(SETTLE)
    path = f"/rooms/{ROOM}"
    members, member_clients = await _http_load(server, _cycle(path), duration, CONNECTIONS, cookie=member.cookie)
    guests, guest_clients = await _http_load(server, _cycle(path), duration, CONNECTIONS)
    problems = sidebar_problems(member_clients, SIDEBAR_ROOMS)
    for name, figures, clients in (("member", members, member_clients), ("guest", guests, guest_clients)):
        if figures["failed"]:
            problems.append(f"{figures['failed']} {name} page requests failed")
        body = next((c.first_body for c in clients if c.first_body), b"")
        problems += _page_problems(body, name == "member")
    first = next((c.first_body for c in member_clients if c.first_body), b"")
    metrics: dict[str, Any] = {
        "sidebar_rooms": SIDEBAR_ROOMS,
        "member_pages_per_s": members["per_s"], "member_page_cpu_ms": cpu_ms(members),
        "guest_pages_per_s": guests["per_s"], "guest_page_cpu_ms": cpu_ms(guests),
        "member_page_kb": round(len(first) / 1024, 1),
        "server_cpu": members["server_cpu"],
        "generator_cpu": max(members["generator_cpu"], guests["generator_cpu"]),
        "other_cpu": max(members["other_cpu"], guests["other_cpu"]),
        "noisy": members["noisy"] or guests["noisy"],
        "generator_saturated": members["generator_saturated"] or guests["generator_saturated"],
    }
    return Outcome(metrics, problems, member.sent + guest.sent + friend.sent + bot_sent)


__all__ = ["page"]

"""The attention scenarios of the benchmark work: a tiny run of each against a real chatapp."""

from __future__ import annotations

from pathlib import Path

from bench import attention, servers


async def test_the_sidebar_and_mentions_scenarios_run_and_check_out(tmp_path: Path) -> None:
    server = servers.chatapp(tmp_path, prefix=[], send_queue=10_000)
    await server.astart()
    try:
        sidebar = await attention.sidebar(server, duration=0.3, rooms=5)
        mentions = await attention.mentions(server, sizes=(20,), messages=20, members=4)
    finally:
        assert await server.astop() in (0, -2, 130)
    assert server.db is not None
    assert sidebar.problems == [] and mentions.problems == []
    assert servers.check_database(server.db, sidebar.sent + mentions.sent) == []  # one server ran both
    # Counts, not rates: a rate rounds to 0 when a loaded machine takes seconds for a few.
    assert sidebar.metrics["member_pages"] > 0 and sidebar.metrics["joins"] > 0
    assert mentions.metrics["room_20_mention_frames"] == 3 * 20

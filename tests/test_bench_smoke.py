"""The benchmark harness itself works: a tiny burst against the reference server."""

from __future__ import annotations

from pathlib import Path

from bench import scenarios, servers


async def test_a_tiny_burst_against_the_reference_delivers_everything(tmp_path: Path) -> None:
    server = servers.reference(tmp_path, prefix=[])
    await server.astart()
    try:
        outcome = await scenarios.burst(server, rooms=2, per_room=3, duration=0.3)
    finally:
        await server.astop()
    assert outcome.problems == []
    assert outcome.metrics["delivered_all"] and outcome.metrics["lost"] == 0
    assert outcome.metrics["deliveries"] == outcome.metrics["messages"] * 3 > 0

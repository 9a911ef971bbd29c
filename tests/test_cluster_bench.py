"""The cluster benchmark itself works: both loads on two nodes, every delivery and row checked."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from bench import cluster

from .cluster_harness import need_engines

pytestmark = pytest.mark.slow


async def test_a_tiny_cluster_run_delivers_and_stores_everything() -> None:
    need_engines()
    workdir = Path(tempfile.mkdtemp(prefix="chatapp-bench-test-"))
    workdir.chmod(0o755)  # PostgreSQL runs as the postgres user: it must reach its directory
    try:
        layout = await cluster.start_layout("pg-2", workdir, [], 0)
        try:
            cost = await cluster.cost(layout, rate=100, duration=0.5, rooms=2, per_room=3)
            burst = await cluster.burst(layout, duration=0.3, rooms=2, per_room=3)
            rows = await cluster.check_rows(layout, cost.pop("sent") + burst.pop("sent"))
        finally:
            codes = await layout.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    assert rows == []
    assert codes == [0, 0]
    for out in (cost, burst):
        assert out["problems"] == [] and out["metrics"]["lost"] == 0
    assert cost["metrics"]["cross_node"]["p50_ms"] > 0
    assert set(cost["metrics"]["cpu_ms_per_message"]) == {"node1", "node2", "postgres"}

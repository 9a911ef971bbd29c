"""What a server loads before anyone uses a rare feature: Pillow (image uploads), pywebpush
(sending a Web Push) and the Redis client (presence across a cluster's nodes) cost ~14 MiB
between them, so they are imported where they are first used, not at start."""

from __future__ import annotations

import subprocess
import sys

LAZY = ("PIL", "pywebpush", "requests", "redis")


def test_the_app_is_made_without_pillow_pywebpush_or_redis() -> None:
    script = (
        "import sys\n"
        "from chatapp.app import create_app\n"
        "from chatapp.settings import Settings\n"
        "create_app(Settings())\n"
        f"print(' '.join(sorted(m for m in {LAZY!r} if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == ""

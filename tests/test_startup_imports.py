"""What a server loads before anyone uses a rare feature: Pillow (image uploads), pywebpush
(sending a Web Push) and the Redis client (presence across a cluster's nodes) cost ~14 MiB
between them, so they are imported where they are first used, not at start. The Web Push
key is the same: py_vapid and the asymmetric half of ``cryptography`` are imported, and
``<db>.vapid`` is read or made, when a member first turns notifications on (or the first
push goes out), not when the server starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LAZY = ("PIL", "pywebpush", "requests", "redis", "py_vapid", "cryptography.hazmat.primitives.asymmetric")


def _run(script: str) -> str:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def test_the_app_is_made_without_pillow_pywebpush_redis_or_the_push_key() -> None:
    script = (
        "import sys\n"
        "from chatapp.app import create_app\n"
        "from chatapp.settings import Settings\n"
        "create_app(Settings())\n"
        f"print(' '.join(sorted(m for m in {LAZY!r} if m in sys.modules)))\n"
    )
    assert _run(script) == ""


def test_a_started_server_has_not_loaded_the_push_key_until_it_is_asked_for(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    script = (
        "import asyncio, os, sys\n"
        "from aiohttp import web\n"
        "from chatapp.app import create_app\n"
        "from chatapp.push import VAPID_KEYS\n"
        "from chatapp.settings import Settings\n"
        f"LAZY = {LAZY!r}\n"
        "def loaded():\n"
        "    return ' '.join(sorted(m for m in LAZY if m in sys.modules)) or '-'\n"
        "async def main():\n"
        f"    app = create_app(Settings(db={str(db)!r}, admin_password='not used here'))\n"
        "    runner = web.AppRunner(app)\n"
        "    await runner.setup()\n"
        "    try:\n"
        f"        print(loaded(), os.path.exists({str(db) + '.vapid'!r}))\n"
        "        keys = await app[VAPID_KEYS].get()\n"
        "        print(loaded(), len(keys.public_key))\n"
        "    finally:\n"
        "        await runner.cleanup()\n"
        "asyncio.run(main())\n"
    )
    started, asked = _run(script).splitlines()
    assert started == "- False"
    assert asked == "cryptography.hazmat.primitives.asymmetric py_vapid 87"
    assert (tmp_path / "chat.db.vapid").exists()

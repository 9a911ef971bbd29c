"""``python -m chatapp.cluster`` (``make cluster``): a whole cluster on this machine.

PostgreSQL and Redis on free loopback ports in a throwaway directory, two or three chatapp
nodes sharing them (and one session secret and Web Push key, so a login and a push
subscription work on every node), and nginx in front, round-robin, with the WebSocket
configuration a real deployment needs. It prints the URL and waits; Ctrl-C or SIGTERM stops
everything it started, in order (the load balancer, the nodes, Redis, PostgreSQL), and
removes the directory unless ``--keep`` was given.

For trying the cluster and for the tests' idea of it; production is laid out in
docs/scaling.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .services import Child, Nginx, Postgres, Redis, ServiceError, free_port

log = logging.getLogger("chatapp.cluster")

DATABASE = "chatapp"
CHECK_EVERY = 1.0  # seconds between looks at whether a child died


def shared_env(database_url: str, redis_url: str | None) -> dict[str, str]:
    """The settings every node of one cluster must share (and the ones that make sense
    behind a local load balancer)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    env = {
        "CHATAPP_DATABASE_URL": database_url,
        "CHATAPP_SECRET": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "CHATAPP_ADMIN_PASSWORD": secrets.token_urlsafe(12),
        "CHATAPP_VAPID_PRIVATE_KEY": pem,
        "CHATAPP_TRUSTED_PROXIES": "127.0.0.1",  # nginx: its X-Forwarded-For names the client
    }
    if redis_url:
        env["CHATAPP_REDIS_URL"] = redis_url
    return env


def node(root: Path, number: int, env: dict[str, str], port: int | None = None,
         extra: Sequence[str] = ()) -> Child:
    """One chatapp node as a child process (its SQLite settings unused: the data is in PostgreSQL)."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "chatapp", "--host", "127.0.0.1", "--port", str(port),
           "--db", str(root / f"node{number}.db"), *extra]
    child = Child(f"node {number}", cmd, root / f"node{number}.log", port)
    child.env = {**os.environ, **env}
    return child


@contextlib.contextmanager
def cluster(root: Path, nodes: int, port: int, *,
            redis: bool = True) -> Iterator[tuple[Nginx, list[Child], dict[str, str]]]:
    """Start everything, yield (load balancer, nodes, shared settings), stop everything."""
    started: list[Child | Postgres] = []
    try:
        pg = Postgres(root / "postgres")
        pg.start()
        started.append(pg)
        url = pg.create_database(DATABASE)
        redis_url = None
        if redis:
            r = Redis(root / "redis")
            r.start()
            started.append(r)
            redis_url = r.url
        env = shared_env(url, redis_url)
        children = [node(root, i + 1, env) for i in range(nodes)]
        for child in children:  # one after another: the first creates the schema
            child.start()
            started.append(child)
            log.info("%s on http://127.0.0.1:%d", child.name, child.port)
        lb = Nginx(root / "nginx", [c.port for c in children], port or None)
        lb.start()
        started.append(lb)
        yield lb, children, env
    finally:
        for thing in reversed(started):
            try:
                thing.stop()
            except ServiceError as exc:
                log.warning("%s", exc)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m chatapp.cluster", description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=3, choices=range(1, 10), metavar="N",
                   help="chatapp nodes to run (default 3)")
    p.add_argument("--port", type=int, default=8080, help="the load balancer's port (default 8080; 0: any free)")
    p.add_argument("--dir", type=Path, default=None, help="where everything is kept (default: a new temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the directory when stopping")
    p.add_argument("--no-redis", action="store_true", help="without Redis: presence is then per node")
    return p


def _wait_for_stop(children: list[Child]) -> None:
    """Until SIGINT or SIGTERM; a child that dies is reported, the others keep serving."""
    signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    reported: set[str] = set()
    while signal.sigtimedwait(signals, CHECK_EVERY) is None:
        for child in children:
            if not child.running and child.name not in reported:
                reported.add(child.name)
                log.warning("%s exited with %s; see %s", child.name,
                            child.proc.returncode if child.proc else "?", child.log_path)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    root = args.dir or Path(tempfile.mkdtemp(prefix="chatapp-cluster-"))
    root.mkdir(parents=True, exist_ok=True)
    if args.dir is None:
        root.chmod(0o755)  # PostgreSQL runs as the postgres user: it must reach its directory
    try:
        with cluster(root, args.nodes, args.port, redis=not args.no_redis) as (lb, children, env):
            print(f"\nchatapp cluster: {lb.url}  ({len(children)} nodes behind nginx)", flush=True)
            for child in children:
                print(f"  {child.name}:         http://127.0.0.1:{child.port}", flush=True)
            print(f"  admin password: {env['CHATAPP_ADMIN_PASSWORD']}", flush=True)
            print(f"  PostgreSQL:     {env['CHATAPP_DATABASE_URL']}", flush=True)
            if "CHATAPP_REDIS_URL" in env:
                print(f"  Redis:          {env['CHATAPP_REDIS_URL']}", flush=True)
            print(f"  logs and data:  {root}\nCtrl-C stops everything.\n", flush=True)
            _wait_for_stop(children)
            log.info("stopping")
    except ServiceError as exc:
        log.error("%s", exc)
        return 1
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0

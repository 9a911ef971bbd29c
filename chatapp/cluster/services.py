"""The engines a local cluster runs on: PostgreSQL, Redis and nginx from Debian's packages.

Each runs as a child of ours, on a free loopback port, with everything it writes in one
throwaway directory, and stops when asked: :mod:`chatapp.cluster.runner` (``make cluster``)
starts them around its chatapp nodes, and the cluster tests start Redis and nginx with
these same classes. PostgreSQL refuses to run as root, so as root ``initdb`` and the server
run as the ``postgres`` user (``runuser``); its directory is made theirs.

Nothing here is for production: the database trusts every loopback connection. A real
layout (systemd units, an existing PostgreSQL and Redis) is in docs/scaling.md.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

START_TIMEOUT = 60.0  # seconds an engine may take to accept connections
STOP_TIMEOUT = 30.0
POLL = 0.05  # seconds between looks at a starting engine: it gives no event to wait on

PG_BIN_DIRS = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")


class ServiceError(RuntimeError):
    """An engine could not be started or stopped; the message says which and why."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_bin() -> Path | None:
    """Where initdb, pg_ctl and postgres are (``CHATAPP_PG_BIN`` first), or None."""
    override = os.environ.get("CHATAPP_PG_BIN")
    for folder in ([override] if override else []) + list(PG_BIN_DIRS):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (PostgreSQL's backends, nginx's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Child:
    """One engine process of ours, its output in a log file."""

    def __init__(self, name: str, cmd: Sequence[str], log_path: Path, port: int) -> None:
        self.name = name
        self.cmd = list(cmd)
        self.log_path = log_path
        self.port = port
        self.env: dict[str, str] | None = None  # None: ours
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        with open(self.log_path, "ab") as out:
            # A session of its own: Ctrl-C reaches only us, and we stop our children in order.
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self.env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not _accepts(self.port):
            if self.proc.poll() is not None:
                raise ServiceError(f"{self.name} exited with {self.proc.returncode}:\n{_tail(self.log_path)}")
            if time.monotonic() > deadline:
                self.kill()
                raise ServiceError(f"{self.name} did not listen within {timeout:.0f} s:\n{_tail(self.log_path)}")
            time.sleep(POLL)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Redis(Child):
    """``redis-server`` with nothing saved to disk: presence is all it holds, and may be lost."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError("redis-server is not installed (apt-get install redis-server)")
        root.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        super().__init__("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--dir", str(root), "--protected-mode", "yes"],
                         root / "redis.log", port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class Postgres:
    """A PostgreSQL cluster in ``root``, started and stopped with ``pg_ctl``.

    ``durable=False`` turns fsync off (for tests and benchmarks on a throwaway directory);
    ``synchronous_commit`` stays on either way, so a commit a node reported survives a
    PostgreSQL crash, which the cluster tests rely on.
    """

    def __init__(self, root: Path, port: int | None = None, *, durable: bool = True,
                 bin_dir: Path | None = None, max_connections: int = 200, prefix: Sequence[str] = ()) -> None:
        found = bin_dir or postgres_bin()
        if found is None:
            raise ServiceError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = found
        self.root = root
        self.data = root / "pgdata"
        self.sockets = root / "pgsockets"
        self.log_path = root / "postgres.log"
        self.port = port or free_port()
        self.durable = durable
        self.max_connections = max_connections
        self.user = "postgres"
        self._as: list[str] = list(prefix)  # e.g. the benchmark's taskset: the server inherits it
        if os.geteuid() == 0:  # initdb and postgres refuse root
            self._as += ["runuser", "-u", "postgres", "--"]

    def _run(self, *cmd: str | Path, timeout: float = 120) -> str:
        done = subprocess.run([*self._as, *map(str, cmd)], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, start_new_session=True)
        if done.returncode != 0:
            raise ServiceError(f"{Path(cmd[0]).name} failed ({done.returncode}): "
                               f"{(done.stderr or done.stdout).strip()[-2000:]}")
        return done.stdout

    def start(self) -> None:
        """initdb (the first time), then start; returns once it accepts connections."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if self._as:
            owner = pwd.getpwnam("postgres")
            for path in (self.root, self.sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            os.chmod(self.root, 0o755)
            self.log_path.touch()
            os.chown(self.log_path, owner.pw_uid, owner.pw_gid)
        if not self.data.exists():
            self._run(self.bin / "initdb", "-D", self.data, "-U", self.user, "--auth=trust",
                      "--encoding=UTF8", "--locale=C.UTF-8", *([] if self.durable else ["--no-sync"]))
        options = [f"-p {self.port}", f"-k {self.sockets}", "-c listen_addresses=127.0.0.1",
                   f"-c max_connections={self.max_connections}"]
        if not self.durable:
            options += ["-c fsync=off", "-c full_page_writes=off"]
        self._run(self.bin / "pg_ctl", "-D", self.data, "-l", self.log_path, "-w", "-t", str(int(START_TIMEOUT)),
                  "-o", " ".join(options), "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop (``fast``: clean; ``immediate``: as if it crashed, recovering at the next start)."""
        self._run(self.bin / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL (chatapp creates its schema at start)."""
        self._run(self.bin / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name)
        return self.url(name)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def pids(self) -> list[int]:
        """The server's processes (the postmaster and its children), for CPU accounting."""
        try:
            main = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return []
        return [main, *children_of(main)]


NGINX_CONF = """\
# Generated by chatapp.cluster: a round-robin load balancer in front of the chatapp nodes.
worker_processes 1;
daemon off;
{user}
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;

events {{
    worker_connections 8192;
}}

http {{
    access_log off;
    client_body_temp_path {root}/nginx-tmp/body;
    proxy_temp_path {root}/nginx-tmp/proxy;
    fastcgi_temp_path {root}/nginx-tmp/fastcgi;
    uwsgi_temp_path {root}/nginx-tmp/uwsgi;
    scgi_temp_path {root}/nginx-tmp/scgi;

    # WebSocket upgrade: nginx passes Upgrade/Connection only when told to.
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}

    upstream chatapp {{
{servers}
        keepalive 32;
    }}

    server {{
        listen 127.0.0.1:{port};
        client_max_body_size {max_body};

        proxy_http_version 1.1;
        # A node that is down or answers 503 (its database unreachable): try the next one.
        proxy_next_upstream error timeout http_502 http_503;

        # proxy_set_header is inherited only by blocks that set none: each location says all.
        location /ws/ {{
            proxy_pass http://chatapp;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            # A socket lives for hours; chatapp pings it every 30 s (CHATAPP_HEARTBEAT).
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_buffering off;
        }}

        location / {{
            proxy_pass http://chatapp;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Connection "";  # keepalive to the nodes
        }}
    }}
}}
"""


def nginx_config(root: Path, port: int, upstreams: Sequence[int], *, max_body: str = "600m") -> str:
    user = ""
    if os.geteuid() == 0:
        user = f"user {pwd.getpwnam('nobody').pw_name} {grp.getgrgid(pwd.getpwnam('nobody').pw_gid).gr_name};"
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in upstreams)
    return NGINX_CONF.format(root=root, port=port, servers=servers, user=user, max_body=max_body)


class Nginx(Child):
    """nginx in the foreground with a generated configuration."""

    def __init__(self, root: Path, upstreams: Sequence[int], port: int | None = None) -> None:
        binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        if binary is None:
            raise ServiceError("nginx is not installed (apt-get install nginx-light)")
        root.mkdir(parents=True, exist_ok=True)
        temp = root / "nginx-tmp"
        temp.mkdir(exist_ok=True)
        if os.geteuid() == 0:  # its workers run as nobody: they buffer request bodies here
            nobody = pwd.getpwnam("nobody")
            os.chown(temp, nobody.pw_uid, nobody.pw_gid)
            os.chmod(root, 0o755)
        port = port or free_port()
        conf = root / "nginx.conf"
        conf.write_text(nginx_config(root, port, upstreams))
        super().__init__("nginx", [binary, "-p", str(root), "-c", str(conf), "-e", str(root / "nginx-error.log")],
                         root / "nginx.log", port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: signal.Signals = signal.SIGQUIT, timeout: float = STOP_TIMEOUT) -> None:
        # SIGQUIT is nginx's graceful stop; open WebSockets would hold it, so not for long.
        super().stop(sig, timeout=min(timeout, 5.0))

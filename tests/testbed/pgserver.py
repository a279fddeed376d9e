"""A throwaway PostgreSQL cluster from the distribution's server binaries.

initdb into a temp folder, password (SCRAM) authentication, loopback TCP on a port picked
at start. PostgreSQL refuses to run as root, so as root the cluster belongs to the
`postgres` system user the Debian package creates.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import processes

SUPERUSER = "postgres"


class PostgresError(RuntimeError):
    pass


@dataclass(frozen=True)
class Binaries:
    initdb: Path
    postgres: Path
    psql: Path
    pg_isready: Path


def find_binaries(required: bool = True) -> Binaries | None:
    """The newest /usr/lib/postgresql/<major>/bin that has a server, else PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            psql = bindir / "psql" if (bindir / "psql").is_file() else shutil.which("psql")
            if psql:
                return Binaries(
                    bindir / "initdb", bindir / "postgres", Path(psql), bindir / "pg_isready"
                )
    found = {name: shutil.which(name) for name in ("initdb", "postgres", "psql", "pg_isready")}
    if all(found.values()):
        return Binaries(*(Path(found[n]) for n in ("initdb", "postgres", "psql", "pg_isready")))
    if required:
        missing = ", ".join(name for name, path in found.items() if not path)
        raise PostgresError(f"PostgreSQL server binaries not found (missing: {missing})")
    return None


@dataclass
class Postgres:
    """Connection facts for the `postgres` fixture, plus a psql helper."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    psql_binary: Path = field(repr=False)

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/postgres"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser; returns unaligned, tuples-only output."""
        cmd = [str(self.psql_binary), "-X", "-At", "-v", "ON_ERROR_STOP=1"]
        cmd += ["-h", self.host, "-p", str(self.port), "-U", self.user, "-d", database, "-c", sql]
        env = {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise PostgresError(f"psql failed (exit {proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout.rstrip("\n")


@dataclass
class PostgresServer:
    folder: Path
    server: processes.Server
    client: Postgres

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast shutdown": roll back sessions and exit.
        self.server.stop(sig=signal.SIGINT)


def start(folder: Path, *, tied: bool = True, timeout: float = 30.0) -> PostgresServer:
    bins = find_binaries(required=True)
    os_user = SUPERUSER if os.geteuid() == 0 else None
    folder.mkdir(parents=True, exist_ok=True)
    pwfile = folder / "pwfile"
    password = secrets.token_hex(16)
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    if os_user:
        _give_to(folder, os_user)

    initdb = [
        str(bins.initdb),
        "-D",
        str(folder / "data"),
        "-U",
        SUPERUSER,
        "--pwfile",
        str(pwfile),
    ]
    initdb += ["--auth=scram-sha-256", "--encoding=UTF8", "--no-sync"]
    proc = subprocess.run(initdb, capture_output=True, text=True, user=os_user, cwd=folder)
    pwfile.unlink()
    if proc.returncode != 0:
        raise PostgresError(f"initdb failed: {proc.stderr.strip()[-2000:]}")

    server, port = processes.retry_port_clash(lambda: _serve(bins, folder, os_user, tied, timeout))
    client = Postgres("127.0.0.1", port, SUPERUSER, password, bins.psql)
    return PostgresServer(folder, server, client)


def _serve(bins: Binaries, folder: Path, os_user: str | None, tied: bool, timeout: float):
    port = processes.free_port()
    cmd = [str(bins.postgres), "-D", str(folder / "data"), "-c", "listen_addresses=127.0.0.1"]
    cmd += ["-c", f"port={port}", "-c", f"unix_socket_directories={folder}"]
    # Durability is pointless for a throwaway cluster; skipping it makes tests faster.
    cmd += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]

    def ready() -> bool:
        check = [str(bins.pg_isready), "-q", "-h", "127.0.0.1", "-p", str(port)]
        return subprocess.run(check).returncode == 0

    log = folder / "postgres.log"
    server = processes.start_server(
        "postgres", cmd, log, ready, timeout, tied, user=os_user, cwd=folder
    )
    return server, port


def _give_to(folder: Path, user: str) -> None:
    try:
        entry = pwd.getpwnam(user)
    except KeyError as exc:
        raise PostgresError(
            f"running as root needs the '{user}' system user to own the cluster "
            "(apt-get install postgresql creates it)"
        ) from exc
    os.chown(folder, entry.pw_uid, entry.pw_gid)
    for path in folder.iterdir():
        os.chown(path, entry.pw_uid, entry.pw_gid)

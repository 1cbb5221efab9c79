"""A Postgres primary and a streaming standby of it, from the binaries the ``pgserver`` wheel
installs (no server of the machine's own is involved): for tests of an API that reads a
replica while the indexer writes the primary.

Postgres refuses to run as root; as root, the clusters run as the unprivileged system user
that pgserver itself uses (created if missing), like the embedded database does.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from artisan.errors import StorageError

SYSTEM_USER = "pgserver"  # the user pgserver runs its embedded server as, under root


def _bin() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    """One running Postgres server: its data directory and TCP port on 127.0.0.1."""

    data: Path
    port: int
    user: str | None  # the system user it runs as (None: this process's)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def run(self, exe: str, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [str(_bin() / exe), *args], user=self.user, capture_output=True, text=True,
            timeout=timeout, cwd=self.data.parent,
        )  # fmt: skip
        if done.returncode != 0:
            raise StorageError(f"{exe} {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"), "-w",
                 "-t", "60", "-o", f"-p {self.port}", "start")  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(StorageError, subprocess.TimeoutExpired):
            self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=60)


def _owned(path: Path, user: str | None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def _system_user(root: Path) -> str | None:
    if os.geteuid() != 0:
        return None
    from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    root.mkdir(parents=True, exist_ok=True)
    ensure_prefix_permissions(root)
    root.chmod(0o755)
    return SYSTEM_USER


@contextlib.contextmanager
def primary_and_standby(root: Path) -> Iterator[tuple[Cluster, Cluster]]:
    """A primary (WAL for replication, trust on 127.0.0.1) and a hot standby streaming from it,
    both stopped on exit."""
    user = _system_user(root)
    _owned(root, user)  # pg_basebackup, run as that user, makes the standby's directory here
    sockets = _owned(root / "sockets", user)
    primary = Cluster(_owned(root / "primary", user), _free_port(), user)
    primary.run("initdb", "-D", str(primary.data), "-U", "postgres", "--auth=trust",
                "-E", "UTF8", "--no-sync")  # fmt: skip
    with (primary.data / "postgresql.conf").open("a") as conf:
        conf.write(
            "\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{sockets}'\n"
            "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\nfsync = off\n"
        )
    with (primary.data / "pg_hba.conf").open("a") as hba:
        hba.write("host replication all 127.0.0.1/32 trust\n")
    started: list[Cluster] = []
    try:
        primary.start()
        started.append(primary)
        standby = Cluster(root / "standby", _free_port(), user)
        # pg_basebackup makes the directory itself (as the user it runs as); -R writes the
        # standby's primary_conninfo and standby.signal.
        primary.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port),
                    "-U", "postgres", "-D", str(standby.data), "-R", "-X", "stream",
                    "--no-sync")  # fmt: skip
        standby.start()
        started.append(standby)
        yield primary, standby
    finally:
        for cluster in reversed(started):
            cluster.stop()

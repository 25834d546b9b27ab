"""Real Redis and PostgreSQL servers for tests, on free ports in temporary folders.

Each server is a child process of the test run: stopped when its ``with`` block ends, and
asked by the kernel to stop (parent-death signal) should the test run itself be killed.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from quantdesk.errors import QuantDeskError
from quantdesk.testing.helpers import free_port

INSTALL_HINT = "run `make system-deps` (it installs Debian's redis-server and postgresql)"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0

_PR_SET_PDEATHSIG = 1
# Linux only; elsewhere servers rely on the `with` block alone.
_PRCTL = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)


def _die_with_parent(signal_number: int) -> Callable[[], None] | None:
    """Return a pre-exec hook asking the kernel to send ``signal_number`` when the test run dies.

    Python runs it after the child switched user, which matters: changing credentials clears
    the setting.
    """
    if _PRCTL is None:
        return None

    def hook() -> None:
        _PRCTL(_PR_SET_PDEATHSIG, signal_number, 0, 0, 0)

    return hook


class _Server:
    """A server process the test run can stop, start again on the same port, and restart."""

    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.log_path = directory / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        """Return whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server (again) on its port and wait until it answers."""
        if self.running:
            return
        with open(self.log_path, "ab") as log:
            self._process = self._launch(log)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self._process.poll() is not None:
                raise QuantDeskError(f"{self.name} exited on start (code {self._process.returncode}): {self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise QuantDeskError(f"{self.name} did not answer on port {self.port} within {START_TIMEOUT}s")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server and wait for it to exit (killing it if it does not)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(self.stop_signal)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Stop the server and start it again on the same port; clients see a dropped connection."""
        self.stop()
        self.start()

    def _launch(self, log) -> subprocess.Popen[bytes]:  # noqa: ANN001 - an open binary file
        raise NotImplementedError

    def _answers(self) -> bool:
        raise NotImplementedError

    def _log_tail(self) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").strip().splitlines()[-5:])
        except OSError:
            return "no log"


class RedisServer(_Server):
    """A ``redis-server`` without persistence, listening on 127.0.0.1."""

    name = "redis-server"

    def __init__(self, binary: str, directory: Path, port: int) -> None:
        super().__init__(directory, port)
        self.binary = binary

    @property
    def url(self) -> str:
        """Return the server's URL, database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def _launch(self, log) -> subprocess.Popen[bytes]:  # noqa: ANN001
        command = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.directory), "--daemonize", "no",
        ]  # fmt: skip
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent(signal.SIGTERM),
        )  # fmt: skip

    def _answers(self) -> bool:
        # Raw RESP: readiness must not depend on the client library under test.
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class PostgresServer(_Server):
    """A PostgreSQL cluster with trust authentication on 127.0.0.1 and one database."""

    name = "postgres"
    # SIGINT is PostgreSQL's "fast" shutdown: it ends open sessions instead of waiting for them.
    stop_signal = signal.SIGINT

    def __init__(self, binaries: Path, directory: Path, port: int, user: str, database: str) -> None:
        super().__init__(directory, port)
        self.binaries = binaries
        self.user = user
        self.database = database
        self.data = directory / "data"

    @property
    def url(self) -> str:
        """Return the SQLAlchemy URL of the server's database (psycopg 3 driver, no password)."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def initialise(self) -> None:
        """Create the cluster (``initdb``), start it and create the database."""
        command = [
            str(self.binaries / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust",
            "--encoding=UTF8", "--no-locale", "--no-sync",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory, **_as_owner())
        if done.returncode:
            raise QuantDeskError(f"initdb failed (code {done.returncode}): {self._log_tail()}")
        self.start()
        import psycopg

        with psycopg.connect(self._dsn("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{self.database}"')

    def _launch(self, log) -> subprocess.Popen[bytes]:  # noqa: ANN001
        # Durability settings off: a test database is thrown away, and fsync costs seconds.
        command = [
            str(self.binaries / "postgres"), "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
            "-k", str(self.directory), "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off",
        ]  # fmt: skip
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.directory,
            preexec_fn=_die_with_parent(signal.SIGINT), **_as_owner(),
        )  # fmt: skip

    def _answers(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self._dsn("postgres"), connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def _dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={database}"


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    """Run a throw-away Redis server for the ``with`` block.

    Yields
    ------
    RedisServer
        With ``url`` (``redis://127.0.0.1:PORT/0``), ``port``, ``stop()``, ``start()`` and
        ``restart()`` (same port, for reconnect tests).

    Raises
    ------
    QuantDeskError
        When ``redis-server`` is not installed or does not start.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise QuantDeskError(f"redis-server is not on PATH: {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="quantdesk-redis-") as directory:
        server = RedisServer(binary, Path(directory), free_port())
        try:
            server.start()
            yield server
        finally:
            server.stop()


@contextmanager
def postgres_server(database: str = "quantdesk", user: str = "quantdesk") -> Iterator[PostgresServer]:
    """Run a throw-away PostgreSQL server for the ``with`` block.

    As root (PostgreSQL refuses to run as root) the cluster belongs to the ``postgres`` system
    user that Debian's package creates.

    Yields
    ------
    PostgresServer
        With ``url`` (``postgresql+psycopg://USER@127.0.0.1:PORT/DATABASE``), ``port``,
        ``stop()``, ``start()`` and ``restart()``; data survives a restart.

    Raises
    ------
    QuantDeskError
        When the PostgreSQL server programs are not installed or the server does not start.
    """
    binaries = _postgres_binaries()
    owner = _as_owner()
    # /tmp itself, not a per-user TMPDIR the postgres user may not be allowed to enter.
    with tempfile.TemporaryDirectory(prefix="quantdesk-postgres-", dir="/tmp" if owner else None) as directory:
        if owner:
            os.chown(directory, owner["user"], owner["group"])
        server = PostgresServer(binaries, Path(directory), free_port(), user, database)
        try:
            server.initialise()
            yield server
        finally:
            server.stop()


def _postgres_binaries() -> Path:
    """Return the folder holding ``initdb`` and ``postgres``: on PATH, else Debian's newest version."""
    on_path = shutil.which("initdb")
    if on_path is not None:
        return Path(on_path).parent
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: _version(p.parent.parent.name))
    if debian:
        return debian[-1].parent
    raise QuantDeskError(f"PostgreSQL's initdb is neither on PATH nor under /usr/lib/postgresql: {INSTALL_HINT}")


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _as_owner() -> dict[str, int]:
    """Return Popen arguments that drop root to the ``postgres`` user (nothing when not root)."""
    if os.geteuid() != 0:
        return {}
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        raise QuantDeskError(f"PostgreSQL refuses to run as root and there is no `postgres` user: {INSTALL_HINT}") from None
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

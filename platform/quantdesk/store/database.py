"""Connect to the platform's SQL store: a SQLite file by default, PostgreSQL by URL.

Every table of the store is declared on :data:`METADATA`; :func:`engine` creates the
missing ones on first use. Importing any module of :mod:`quantdesk.store` registers all
of them, because the package imports its table modules.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, MetaData, Table, create_engine, event, exc, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.dml import Insert

from quantdesk.config.settings import settings
from quantdesk.errors import QuantDeskError

METADATA = MetaData()

# A writer waits this long for another writer's lock (SQLite) or for a TCP connection
# (PostgreSQL) before the store reports the database as unavailable.
LOCK_TIMEOUT_SECONDS = 30
CONNECT_TIMEOUT_SECONDS = 10

URL_HELP = "use sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


def mask(url: str | URL) -> str:
    """Return ``url`` with its password replaced by ``***``, fit for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (exc.ArgumentError, ValueError):
        # Unparseable: hide whatever sits between "user:" and "@" all the same.
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", str(url))


def resolve(url: str | None = None) -> URL:
    """Return the SQLAlchemy URL the store uses for ``url`` (default: the settings).

    Plain ``postgresql://`` and ``postgres://`` URLs get the psycopg 3 driver.

    Raises
    ------
    QuantDeskError
        When the URL cannot be parsed or names a database other than SQLite or PostgreSQL.
    """
    raw = url if url is not None else settings().store_location
    try:
        parsed = make_url(raw)
    except (exc.ArgumentError, ValueError):
        raise QuantDeskError(f"Store URL {mask(raw)!r} is not a database URL: {URL_HELP}") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return parsed
    raise QuantDeskError(f"Store URL {mask(raw)!r} names an unsupported database or driver: {URL_HELP}")


def engine(url: str | None = None) -> Engine:
    """Return the engine of the store at ``url``, creating missing tables on first use.

    Engines are cached per URL, so every caller in a process shares one connection pool.

    Parameters
    ----------
    url : str, optional
        SQLAlchemy URL; default ``QUANTDESK_STORE_URL`` or the SQLite file
        ``<catalog>/quantdesk.sqlite``.

    Raises
    ------
    QuantDeskError
        When the URL is malformed or the database cannot be reached or created.
    """
    resolved = resolve(url)
    key = resolved.render_as_string(hide_password=False)
    with _LOCK:
        cached = _ENGINES.get(key)
        if cached is not None:
            return cached
        created = _sqlite_engine(resolved) if resolved.get_backend_name() == "sqlite" else _postgres_engine(resolved)
        try:
            with translate_errors(created):
                METADATA.create_all(created)
        except BaseException:
            created.dispose()
            raise
        _ENGINES[key] = created
        return created


def close_engines(url: str | None = None) -> None:
    """Close the pooled connections of the store at ``url`` (every store when None) and forget them.

    Call before stopping a database server a process was using, so nothing holds dead connections.
    """
    with _LOCK:
        if url is None:
            keys = list(_ENGINES)
        else:
            keys = [resolve(url).render_as_string(hide_password=False)]
        for key in keys:
            cached = _ENGINES.pop(key, None)
            if cached is not None:
                cached.dispose()


@contextmanager
def translate_errors(target: Engine) -> Iterator[None]:
    """Turn a failure to reach or open the database behind ``target`` into one QuantDeskError."""
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError) as error:
        raise QuantDeskError(_unavailable_message(target.url, error)) from None


def insert_ignoring_duplicates(target: Engine, table: Table, key: str) -> Insert:
    """Return an INSERT into ``table`` that skips rows whose ``key`` column is already stored.

    Both dialects spell it ``INSERT ... ON CONFLICT (key) DO NOTHING``; SQLAlchemy needs the
    dialect's own ``insert`` construct to emit it.
    """
    dialect = sqlite if target.dialect.name == "sqlite" else postgresql
    return dialect.insert(table).on_conflict_do_nothing(index_elements=[key])


def _sqlite_engine(url: URL) -> Engine:
    memory = url.database in (None, "", ":memory:")
    if memory:
        # One shared connection, or every pooled connection would see its own empty database.
        created = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        path = Path(url.database).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise QuantDeskError(
                f"Cannot create the folder of the store file {path} ({error.strerror}): "
                "point QUANTDESK_CATALOG or QUANTDESK_STORE_URL at a writable place"
            ) from None
        created = create_engine(url, connect_args={"timeout": LOCK_TIMEOUT_SECONDS, "check_same_thread": False})

    @event.listens_for(created, "connect")
    def _configure(connection, _record) -> None:  # noqa: ANN001 - DB-API objects
        # Let SQLAlchemy's "begin" hook below issue BEGIN instead of the sqlite3 module,
        # which otherwise delays it and breaks all-or-nothing batches.
        connection.isolation_level = None
        cursor = connection.cursor()
        if not memory:
            # WAL lets dashboards read while the live node writes. NORMAL syncs at checkpoints, not
            # at every commit: a crash of the process loses nothing, a power cut at most the last
            # commits, and the writer no longer stalls the node with an fsync per batch.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(created, "begin")
    def _begin(connection) -> None:  # noqa: ANN001
        connection.exec_driver_sql("BEGIN")

    return created


def _postgres_engine(url: URL) -> Engine:
    # pre_ping replaces connections a server restart left dead instead of failing the next write.
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})


def _unavailable_message(url: URL, error: Exception) -> str:
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()
    detail = reason[0] if reason else type(error).__name__
    where = mask(url)
    if url.get_backend_name() == "sqlite":
        return (
            f"Cannot open the store {where} ({detail}): check that the file's folder is writable and the file "
            "is a QuantDesk store, or point QUANTDESK_CATALOG / QUANTDESK_STORE_URL elsewhere"
        )
    return (
        f"Cannot reach the store database {where} ({detail}): start the PostgreSQL server or fix "
        "QUANTDESK_STORE_URL, or unset QUANTDESK_STORE_URL to use the SQLite file under the catalog"
    )

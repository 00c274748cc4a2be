"""Engines for the two backends (SQLite, PostgreSQL) and the wrapping of database errors into StoreError."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bridge.errors import StoreError

log = logging.getLogger(__name__)

READ_ONLY = "bridge_read_only"  # execution option: on SQLite, begin a deferred (reader) transaction


@contextmanager
def guarded(what: str) -> Iterator[None]:
    """Re-raise database (and file-system) errors as ``StoreError("state store: <what>: ...")``."""
    try:
        yield
    except (SQLAlchemyError, OSError, ImportError, UnicodeError) as exc:
        raise StoreError(f"state store: {what}: {exc}") from exc


def default_sqlite_url(data_dir: Path) -> str:
    """The URL of the SQLite state store kept in the service's data directory."""
    return f"sqlite:///{Path(data_dir) / 'state.db'}"


def shared_store(url: str) -> bool:
    """Whether several nodes may use the store at ``url`` at once (a database server, not an SQLite file)."""
    return make_url(url).get_backend_name() != "sqlite"


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///...`` or ``postgresql+psycopg://...``), tuned for many threads.

    A plain ``postgresql://`` URL is given the psycopg (3) driver. SQLite: the parent directory is created, and
    write transactions start with BEGIN IMMEDIATE so concurrent writers queue on the lock instead of failing on a
    read-to-write lock upgrade.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_size=8, max_overflow=24, pool_pre_ping=True, hide_parameters=True)
    if backend != "sqlite":
        raise StoreError(f"state store: unsupported database {backend!r} (use sqlite or postgresql)")
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, pool_size=8, max_overflow=24, hide_parameters=True)
    else:  # in-memory: one database per connection, so only useful to a single thread
        engine = create_engine(parsed, hide_parameters=True)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own; _sqlite_begin does
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

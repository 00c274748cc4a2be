"""Schema versions: create the store at the latest version, or upgrade an older one step by step.

The ``schema_version`` table holds one row. A database without it is created from ``schema.metadata`` and
recorded at the latest version; a database at an older version gets each missing step of ``STEPS``, each in its own
transaction together with the new version number; a database at a newer version is refused. On PostgreSQL an
advisory lock serialises nodes that start together; on SQLite the write transaction (BEGIN IMMEDIATE) does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import NamedTuple

from sqlalchemy import Connection, Engine, insert, inspect, select, text, update

from bridge.errors import StoreError
from bridge.store.schema import STORE_TABLES, deliveries, metadata, schema_version

log = logging.getLogger(__name__)

BASE_VERSION = 1  # the schema a new database is created at when STEPS is empty
_LOCK_ID = 0x6272_6964_6765  # PostgreSQL advisory lock key ("bridge")


class Step(NamedTuple):
    """One upgrade: ``apply(conn)`` turns a database at ``version - 1`` into one at ``version``."""

    version: int
    description: str
    apply: Callable[[Connection], None]


# Upgrades in order, versions BASE_VERSION + 1, + 2, ... When adding one, also change schema.py to the new shape:
# new databases are created from schema.metadata, existing ones reach the same shape through the steps.
def _add_deliveries(conn: Connection) -> None:
    """Version 2: the delivery outbox (issue: delivery to FHIR servers)."""
    deliveries.create(conn)  # with its indexes


def _add_study_warnings(conn: Connection) -> None:
    """Version 3: studies.warnings, what the last build reported (issue: MADO manifests)."""
    if "warnings" not in {c["name"] for c in inspect(conn).get_columns("studies")}:
        conn.execute(text("ALTER TABLE studies ADD COLUMN warnings TEXT"))


def _add_study_summary(conn: Connection) -> None:
    """Version 4: studies.summary, what the status page shows of the last emitted revision (issue: operating)."""
    if "summary" not in {c["name"] for c in inspect(conn).get_columns("studies")}:
        conn.execute(text("ALTER TABLE studies ADD COLUMN summary TEXT"))


STEPS: list[Step] = [
    Step(2, "delivery outbox (deliveries table)", _add_deliveries),
    Step(3, "study warnings (studies.warnings)", _add_study_warnings),
    Step(4, "study summary (studies.summary)", _add_study_summary),
]


def latest_version(steps: Sequence[Step] = STEPS) -> int:
    """The version ``steps`` lead to: the one new databases are created at."""
    expected = BASE_VERSION
    for step in steps:
        expected += 1
        if step.version != expected:
            raise ValueError(f"upgrade steps must be numbered {BASE_VERSION + 1}, {BASE_VERSION + 2}, ...: "
                             f"got {step.version} where {expected} was expected")
    return expected


STORE_SCHEMA_VERSION = latest_version()


def ensure_schema(engine: Engine, steps: Sequence[Step] = STEPS) -> int:
    """Create or upgrade the store's tables; returns the version the database is at afterwards.

    Raises StoreError when the database is newer than ``steps`` know or is not a state store. Database errors
    propagate as SQLAlchemy exceptions (the caller wraps them).
    """
    latest = latest_version(steps)
    with engine.begin() as conn:
        _lock(conn)
        current = _read_version(conn)
        if current is None:
            metadata.create_all(conn)
            conn.execute(insert(schema_version).values(version=latest))
            log.debug("state store created at schema version %d", latest)
            return latest
    if current > latest:
        raise StoreError(f"state store: the database is at schema version {current}, newer than the {latest} "
                         f"this version of the bridge knows; upgrade the bridge or use another database")
    for step in steps:
        if step.version <= current:
            continue
        with engine.begin() as conn:
            _lock(conn)
            at = _read_version(conn)
            if at is not None and at >= step.version:  # another process applied it meanwhile
                continue
            log.debug("state store: upgrading schema to version %d: %s", step.version, step.description)
            step.apply(conn)
            conn.execute(update(schema_version).values(version=step.version))
    return latest


def drop_store_tables(engine: Engine) -> None:
    """Drop every table of the store (those of the current schema) that exists."""
    with engine.begin() as conn:
        _lock(conn)
        metadata.drop_all(conn, checkfirst=True)


def read_version(conn: Connection) -> int:
    """The version recorded in ``schema_version``."""
    version = _read_version(conn)
    if version is None:
        raise StoreError("state store: schema_version table is missing")
    return version


def _read_version(conn: Connection) -> int | None:
    """The recorded version, or None for a database without any of the store's tables."""
    tables = set(inspect(conn).get_table_names())
    if "schema_version" not in tables:
        if tables & set(STORE_TABLES):
            raise StoreError(f"state store: the database has tables {sorted(tables & set(STORE_TABLES))} "
                             "but no schema_version; it is not a state store this bridge can use")
        return None
    rows = conn.execute(select(schema_version.c.version)).scalars().all()
    if len(rows) != 1:
        raise StoreError(f"state store: schema_version must hold exactly one row, it holds {len(rows)}")
    return int(rows[0])


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_ID})

"""The state store: received instances, their studies and the leases that build them, in SQLite or PostgreSQL."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeAlias

from sqlalchemy import Connection, Engine, Row, bindparam, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from bridge.errors import StoreError
from bridge.store.engine import READ_ONLY, guarded, make_engine
from bridge.store.migrations import drop_store_tables, ensure_schema, read_version
from bridge.store.outbox import DeliveryQueue, enqueue_deliveries
from bridge.store.schema import instances, studies, uid_key
from bridge.store.types import (
    Identity,
    InstanceRecord,
    InstanceState,
    PendingInstance,
    QueueCounts,
    Receipt,
    RecordOutcome,
    RecordResult,
    StudyClaim,
    StudyInstance,
    StudyRecord,
    StudyState,
    Timing,
)

log = logging.getLogger(__name__)

AnyRow: TypeAlias = Row[*tuple[Any, ...]]

_CHUNK = 500  # values per IN (...) list
_CLAIMABLE = (StudyState.OPEN.value, StudyState.FAILED.value)
_RECEIVED, _PARSED, _REJECTED = InstanceState.RECEIVED.value, InstanceState.PARSED.value, InstanceState.REJECTED.value
_LEASE_CLEARED: dict[str, Any] = {"lease_owner": None, "lease_until": None, "claimed_generation": None}

_INSERT_COLUMNS = ("instance_key", "sop_instance_uid", "sop_class_uid", "path", "size", "digest", "source",
                   "calling_ae", "received_at", "state")
_SQLITE_INSERT_NEW = (
    f"INSERT INTO instances ({', '.join(_INSERT_COLUMNS)}) VALUES ({', '.join(':' + c for c in _INSERT_COLUMNS)}) "
    "ON CONFLICT (instance_key) DO NOTHING"
)

_instance_count = (
    select(func.count())
    .select_from(instances)
    .where(instances.c.study_key == studies.c.study_key, instances.c.state == _PARSED)
    .scalar_subquery()
    .label("instance_count")
)


def open_store(url: str, *, fresh: bool = False) -> StateStore:
    """Open (creating or upgrading its schema) the state store at ``url``; ``fresh`` drops its tables first.

    ``url`` is ``sqlite:///<path>`` or ``postgresql+psycopg://user@host:port/db``. Raises StoreError when the
    database cannot be reached or its schema is newer than this code knows.
    """
    with guarded("open"):
        engine = make_engine(url)
    try:
        with guarded("open"):
            if fresh:
                drop_store_tables(engine)
            version = ensure_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    log.debug("state store open: %s, schema version %d", engine.dialect.name, version)
    return StateStore(engine)


class StateStore(DeliveryQueue):
    """The work queue and study states; thread-safe, each method one transaction. Use ``open_store`` to make one."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgresql = engine.dialect.name == "postgresql"
        self._record_insert = (  # the values come as parameters: the statement and its compiled form are reused
            self._insert(instances)
            .on_conflict_do_nothing(index_elements=[instances.c.instance_key])
            .returning(instances.c.instance_key)
        )

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Dispose of the engine: every pooled connection is closed."""
        self._engine.dispose()

    def schema_version(self) -> int:
        with self._read("schema_version") as conn:
            return read_version(conn)

    # -- instances ---------------------------------------------------------------------------------------------

    def record_instance(self, r: Receipt) -> RecordResult:
        """Record a spooled instance: NEW, DUPLICATE (same digest; nothing changes) or REPLACED (new bytes).

        A replaced instance goes back to RECEIVED and keeps its study until it is parsed again. This is on the
        acknowledgement path of every C-STORE, so its INSERT is built once (see __init__) and only executed here.
        """
        key = uid_key(r.sop_instance_uid)
        received = {"sop_class_uid": r.sop_class_uid, "path": r.path, "size": r.size, "digest": r.digest,
                    "source": r.source, "calling_ae": r.calling_ae, "received_at": r.received_at}
        if not self._postgresql and self._sqlite_insert_new(
            {"instance_key": key, "sop_instance_uid": r.sop_instance_uid, "state": _RECEIVED, **received}
        ):
            return RecordResult(RecordOutcome.NEW, None)
        with self._write("record_instance") as conn:
            inserted = conn.execute(
                self._record_insert,
                {"instance_key": key, "sop_instance_uid": r.sop_instance_uid, "state": _RECEIVED, **received},
            ).first()
            if inserted is not None:
                return RecordResult(RecordOutcome.NEW, None)
            old = conn.execute(
                select(instances.c.digest, instances.c.path).where(instances.c.instance_key == key).with_for_update()
            ).one()
            if old.digest == r.digest:
                return RecordResult(RecordOutcome.DUPLICATE, None)
            conn.execute(
                update(instances)
                .where(instances.c.instance_key == key)
                .values(state=_RECEIVED, error=None, parsed_at=None, **received)
            )
            return RecordResult(RecordOutcome.REPLACED, old.path if old.path != r.path else None)

    def _sqlite_insert_new(self, values: dict[str, Any]) -> bool:
        """SQLite: insert a new instance in one autocommitted statement on the driver's connection; False if the
        SOP Instance UID is already known. Measured: a third of the SQLAlchemy path's cost per C-STORE."""
        try:
            connection = self._engine.raw_connection()
        except SQLAlchemyError as exc:
            raise StoreError(f"state store: record_instance: {exc}") from exc
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(_SQLITE_INSERT_NEW, values)  # the driver is in autocommit mode (engine.py)
                return bool(cursor.rowcount == 1)
            finally:
                cursor.close()
        except sqlite3.Error as exc:
            raise StoreError(f"state store: record_instance: {exc}") from exc
        finally:
            connection.close()

    def pending_instances(self, limit: int) -> list[PendingInstance]:
        """Up to ``limit`` RECEIVED instances, oldest first."""
        c = instances.c
        with self._read("pending_instances") as conn:
            rows = conn.execute(
                select(c.sop_instance_uid, c.path, c.digest, c.source, c.calling_ae, c.received_at)
                .where(c.state == _RECEIVED)
                .order_by(c.received_at, c.instance_key)
                .limit(max(limit, 0))
            ).all()
        return [PendingInstance(r.sop_instance_uid, r.path, r.digest, r.source, r.calling_ae, r.received_at)
                for r in rows]

    def mark_parsed(self, sop_instance_uid: str, digest: str, identity: Identity, timing: Timing,
                    now: float) -> bool:
        """Put a RECEIVED instance into its study and open (or re-open) the study; due when ``timing`` says.

        Returns False, changing nothing, when the instance no longer has ``digest`` or is not RECEIVED (a newer
        copy replaced it meanwhile). A replaced instance that moves to another study also re-opens the old one.
        """
        with self._write("mark_parsed") as conn:
            return self._mark_parsed(conn, sop_instance_uid, digest, identity, timing, now)

    def mark_parsed_many(self, parsed: Sequence[tuple[str, str, Identity, Timing]], now: float) -> int:
        """mark_parsed for each (SOP Instance UID, digest, identity, timing), in one transaction.

        Returns how many were placed. The instances are updated with one executemany and each study is re-timed
        once per batch (its earliest and latest arrival in it), so a batch of a thousand costs a few statements:
        the write lock stays short while the listener is recording new arrivals.
        """
        c = instances.c
        wanted = {uid_key(uid): (uid, digest, identity, timing) for uid, digest, identity, timing in parsed}
        with self._write("mark_parsed_many") as conn:
            rows = []
            for chunk in _chunks(sorted(wanted)):
                rows += conn.execute(
                    select(c.instance_key, c.digest, c.state, c.study_key, c.received_at)
                    .where(c.instance_key.in_(chunk)).with_for_update()
                ).all()
            placed = [row for row in rows if row.state == _RECEIVED and row.digest == wanted[row.instance_key][1]]
            if not placed:
                return 0
            conn.execute(
                update(instances).where(c.instance_key == bindparam("k")).values(
                    state=_PARSED, study_key=bindparam("sk"), study_instance_uid=bindparam("su"),
                    series_instance_uid=bindparam("se"), parsed_at=now),
                [{"k": row.instance_key, "sk": uid_key(wanted[row.instance_key][2].study_instance_uid),
                  "su": wanted[row.instance_key][2].study_instance_uid,
                  "se": wanted[row.instance_key][2].series_instance_uid} for row in placed],
            )
            arrivals: dict[str, list[tuple[float, str, Timing]]] = {}
            left: set[str] = set()
            for row in placed:
                _, _, identity, timing = wanted[row.instance_key]
                study_key = uid_key(identity.study_instance_uid)
                arrivals.setdefault(study_key, []).append((row.received_at, identity.study_instance_uid, timing))
                if row.study_key is not None and row.study_key != study_key:
                    left.add(row.study_key)
            for key in sorted(set(arrivals) | left):  # a fixed lock order: no deadlock
                if key in arrivals:
                    times = sorted(arrivals[key], key=lambda a: a[0])
                    for at, study_uid, timing in {id(a): a for a in (times[0], times[-1])}.values():
                        self._arrive(conn, key, study_uid, at, timing)  # earliest, then latest (its timing wins)
                if key in left:
                    self._content_removed(conn, key, now)
            return len(placed)

    def _mark_parsed(self, conn: Connection, sop_instance_uid: str, digest: str, identity: Identity,
                     timing: Timing, now: float) -> bool:
        key = uid_key(sop_instance_uid)
        study_key = uid_key(identity.study_instance_uid)
        row = self._lock_instance(conn, key)
        if row is None or row.digest != digest or row.state != _RECEIVED:
            return False
        conn.execute(
            update(instances)
            .where(instances.c.instance_key == key)
            .values(state=_PARSED, study_key=study_key, study_instance_uid=identity.study_instance_uid,
                    series_instance_uid=identity.series_instance_uid, parsed_at=now)
        )
        for touched in sorted({study_key, row.study_key} - {None}):  # a fixed lock order: no deadlock
            if touched == study_key:
                self._arrive(conn, study_key, identity.study_instance_uid, row.received_at, timing)
            else:
                self._content_removed(conn, touched, now)
        return True

    def mark_rejected(self, sop_instance_uid: str, digest: str, reason: str, now: float) -> bool:
        """Quarantine an instance with ``reason``; a study it had been parsed into re-opens, due at ``now``.

        Returns False, changing nothing, when the instance no longer has ``digest`` or is already rejected.
        """
        key = uid_key(sop_instance_uid)
        with self._write("mark_rejected") as conn:
            row = self._lock_instance(conn, key)
            if row is None or row.digest != digest or row.state == _REJECTED:
                return False
            conn.execute(update(instances).where(instances.c.instance_key == key).values(state=_REJECTED,
                                                                                        error=reason))
            if row.study_key is not None:
                self._content_removed(conn, row.study_key, now)
            return True

    def instance(self, sop_instance_uid: str) -> InstanceRecord | None:
        with self._read("instance") as conn:
            row = conn.execute(select(instances).where(instances.c.instance_key == uid_key(sop_instance_uid))).first()
        return None if row is None else _instance_record(row)

    def instances_of(self, study_instance_uid: str) -> list[InstanceRecord]:
        """Every instance (whatever its state) that names the study, ordered by SOP Instance UID."""
        with self._read("instances_of") as conn:
            rows = conn.execute(select(instances).where(instances.c.study_key == uid_key(study_instance_uid))).all()
        return sorted((_instance_record(r) for r in rows), key=lambda i: i.sop_instance_uid)

    def open_paths(self, quiet_since: float, limit: int) -> list[tuple[str, bool]]:
        """(spool path, quiet) of the parsed instances of OPEN studies, the study due soonest first; at most
        ``limit``. ``quiet``: the study received nothing after ``quiet_since``. The scheduler reads the headers
        of quiet studies while they wait to be due, and keeps those it has until their study is built."""
        s, i = studies.c, instances.c
        with self._read("open_paths") as conn:
            rows = conn.execute(
                select(i.path, s.last_arrival).select_from(instances.join(studies, i.study_key == s.study_key))
                .where(s.state == StudyState.OPEN.value, i.state == _PARSED)
                .order_by(s.due_at, s.study_key, i.instance_key)
                .limit(limit)
            ).all()
        return [(path, last_arrival <= quiet_since) for path, last_arrival in rows]

    def unknown_paths(self, paths: Iterable[str]) -> set[str]:
        """The ``paths`` that no instance references."""
        wanted = set(paths)
        known: set[str] = set()
        with self._read("unknown_paths") as conn:
            for chunk in _chunks(sorted(wanted)):
                known.update(conn.execute(select(instances.c.path).where(instances.c.path.in_(chunk))).scalars())
        return wanted - known

    # -- studies -----------------------------------------------------------------------------------------------

    def claim_due_studies(self, now: float, owner: str, lease: float, limit: int) -> list[StudyClaim]:
        """Lease up to ``limit`` due studies to ``owner`` for ``lease`` seconds, oldest due first.

        A study is due when it is OPEN or FAILED, its due_at has passed, and no unparsed instance received before
        its due_at is waiting (it might belong to the study). On PostgreSQL, rows another node is claiming are
        skipped, so concurrent claimers get disjoint sets.
        """
        if limit <= 0:
            return []
        s = studies.c
        blocked = exists().where(instances.c.state == _RECEIVED, instances.c.received_at < s.due_at)
        with self._write("claim_due_studies") as conn:
            due = conn.execute(
                select(s.study_key, s.study_instance_uid, s.revision, s.generation)
                .where(s.state.in_(_CLAIMABLE), s.due_at <= now, or_(s.lease_owner.is_(None), s.lease_until < now),
                       ~blocked)
                .order_by(s.due_at, s.study_key)
                .limit(limit)
                .with_for_update(skip_locked=True, of=studies)
            ).all()
            if not due:
                return []
            keys = [d.study_key for d in due]
            members: dict[str, list[StudyInstance]] = {k: [] for k in keys}
            for chunk in _chunks(keys):
                conn.execute(
                    update(studies)
                    .where(s.study_key.in_(chunk))
                    .values(state=StudyState.BUILDING.value, lease_owner=owner, lease_until=now + lease,
                            claimed_generation=s.generation)
                )
                i = instances.c
                for r in conn.execute(
                    select(i.study_key, i.sop_instance_uid, i.series_instance_uid, i.path, i.digest, i.calling_ae)
                    .where(i.study_key.in_(chunk), i.state == _PARSED)
                ):
                    members[r.study_key].append(StudyInstance(r.sop_instance_uid, r.series_instance_uid, r.path,
                                                              r.digest, r.calling_ae))
        log.debug("state store: %d studies claimed", len(due))
        return [
            StudyClaim(d.study_instance_uid, d.revision + 1, d.generation, owner,
                       tuple(sorted(members[d.study_key], key=lambda m: m.sop_instance_uid)))
            for d in due
        ]

    def complete_study(self, study_instance_uid: str, owner: str, revision: int, generation: int,
                       emitted_digest: str, now: float, sinks: Sequence[str] = (),
                       payload: str | None = None, warnings: str | None = None,
                       summary: dict[str, Any] | None = None) -> StudyRecord:
        """Record that ``owner`` emitted ``revision`` built from ``generation``; releases the lease.

        The study is SEALED when nothing changed during the build, else OPEN again (due when the arrivals since
        the claim say). In the same transaction, the revision is queued for delivery to each of ``sinks`` with
        its ``payload`` (the outbox). ``summary`` (JSON-able) is what the status page shows of the revision.
        Raises StoreError("... lease lost") when ``owner`` no longer holds the study.
        """
        key = uid_key(study_instance_uid)
        with self._write("complete_study") as conn:
            row = self._lock_leased(conn, key, owner, "complete_study")
            sealed = row.generation == generation
            conn.execute(
                update(studies)
                .where(studies.c.study_key == key)
                .values(state=(StudyState.SEALED if sealed else StudyState.OPEN).value,
                        due_at=None if sealed else row.due_at, revision=revision, emitted_digest=emitted_digest,
                        emitted_at=now, last_error=None, warnings=warnings,
                        summary=None if summary is None else json.dumps(summary, sort_keys=True),
                        **_LEASE_CLEARED)
            )
            if sinks and payload is not None:
                enqueue_deliveries(conn, study_instance_uid, revision, sinks, payload, now)
            return _study_record(conn.execute(select(studies, _instance_count).where(studies.c.study_key == key))
                                 .one())

    def fail_study(self, study_instance_uid: str, owner: str, error: str, retry_at: float | None) -> None:
        """Record that ``owner``'s build failed; the study is FAILED, claimable again at ``retry_at`` (None: only
        once a new instance re-opens it).

        Raises StoreError("... lease lost") when ``owner`` no longer holds the study.
        """
        key = uid_key(study_instance_uid)
        with self._write("fail_study") as conn:
            self._lock_leased(conn, key, owner, "fail_study")
            conn.execute(
                update(studies)
                .where(studies.c.study_key == key)
                .values(state=StudyState.FAILED.value, last_error=error, due_at=retry_at, **_LEASE_CLEARED)
            )

    def release_expired_leases(self, now: float) -> int:
        """Re-open the BUILDING studies whose lease ended before ``now`` (their node died); returns how many."""
        s = studies.c
        released = 0
        with self._write("release_expired_leases") as conn:
            expired = conn.execute(  # a row being completed right now is locked: skip it rather than wait
                select(s.study_key).where(s.state == StudyState.BUILDING.value, s.lease_until < now)
                .with_for_update(skip_locked=True)
            ).scalars().all()
            for chunk in _chunks(expired):
                released += conn.execute(
                    update(studies)
                    .where(s.study_key.in_(chunk))
                    .values(state=StudyState.OPEN.value, due_at=func.coalesce(s.due_at, now), **_LEASE_CLEARED)
                ).rowcount
        if released:
            log.warning("state store: released %d expired study leases (a worker stopped mid-build)", released,
                        extra={"event": "store.lease_released"})
        return int(released)

    def study(self, study_instance_uid: str) -> StudyRecord | None:
        key = uid_key(study_instance_uid)
        with self._read("study") as conn:
            row = conn.execute(select(studies, _instance_count).where(studies.c.study_key == key)).first()
        return None if row is None else _study_record(row)

    def studies(self) -> list[StudyRecord]:
        """Every study, ordered by Study Instance UID."""
        with self._read("studies") as conn:
            rows = conn.execute(select(studies, _instance_count)).all()
        return sorted((_study_record(r) for r in rows), key=lambda s: s.study_instance_uid)

    def next_due_at(self) -> float | None:
        """When the next open or failed study is due (None: none is waiting)."""
        s = studies.c
        with self._read("next_due_at") as conn:
            due = conn.execute(select(func.min(s.due_at)).where(s.state.in_(_CLAIMABLE))).scalar_one()
        return None if due is None else float(due)

    def study_state_counts(self) -> dict[str, int]:
        """Studies by state."""
        with self._read("study_state_counts") as conn:
            return {state: int(n) for state, n in conn.execute(select(studies.c.state, func.count())
                                                               .group_by(studies.c.state))}

    def recent_studies(self, limit: int) -> list[StudyRecord]:
        """The ``limit`` studies with the latest arrivals, newest first."""
        with self._read("recent_studies") as conn:
            rows = conn.execute(select(studies, _instance_count)
                                .order_by(studies.c.last_arrival.desc(), studies.c.study_key).limit(limit)).all()
        return [_study_record(r) for r in rows]

    def counts(self) -> QueueCounts:
        with self._read("counts") as conn:
            unparsed = conn.execute(select(func.count()).select_from(instances)
                                    .where(instances.c.state == _RECEIVED)).scalar_one()
            by_state = {state: n for state, n in conn.execute(select(studies.c.state, func.count())
                                                                 .group_by(studies.c.state))}
        return QueueCounts(
            unparsed=int(unparsed),
            open_studies=int(sum(by_state.get(state, 0) for state in _CLAIMABLE)),
            building_studies=int(by_state.get(StudyState.BUILDING.value, 0)),
        )

    # -- helpers -----------------------------------------------------------------------------------------------

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        with guarded(what), self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self, what: str) -> Iterator[Connection]:
        with guarded(what), self._engine.connect() as conn:
            conn.execution_options(**{READ_ONLY: True})
            with conn.begin():
                yield conn

    def _insert(self, table: Any) -> Any:
        """A dialect INSERT (it has ``on_conflict_do_nothing``)."""
        return pg_insert(table) if self._postgresql else sqlite_insert(table)

    @staticmethod
    def _lock_instance(conn: Connection, key: str) -> AnyRow | None:
        c = instances.c
        return conn.execute(
            select(c.digest, c.state, c.study_key, c.received_at).where(c.instance_key == key).with_for_update()
        ).first()

    @staticmethod
    def _lock_leased(conn: Connection, key: str, owner: str, what: str) -> AnyRow:
        s = studies.c
        row = conn.execute(select(s.state, s.generation, s.due_at, s.lease_owner)
                           .where(s.study_key == key).with_for_update()).first()
        if row is None or row.state != StudyState.BUILDING.value or row.lease_owner != owner:
            raise StoreError(f"state store: {what}: lease lost (the study is no longer leased to {owner!r})")
        return row

    def _arrive(self, conn: Connection, key: str, study_instance_uid: str, at: float, timing: Timing) -> None:
        """An instance received at ``at`` joined the study: create it or bump its generation, and re-time it.

        A SEALED or FAILED study re-opens with a new revision window starting at ``at``; so does a BUILDING one
        at its first arrival since the claim (the build in progress covers the earlier window).
        """
        s = studies.c
        created = conn.execute(
            self._insert(studies)
            .values(study_key=key, study_instance_uid=study_instance_uid, state=StudyState.OPEN.value, revision=0,
                    generation=1, first_arrival=at, last_arrival=at, due_at=_due(at, at, timing))
            .on_conflict_do_nothing(index_elements=[s.study_key])
            .returning(s.study_key)
        ).first()
        if created is not None:
            return
        row = conn.execute(select(s.state, s.generation, s.first_arrival, s.last_arrival, s.claimed_generation)
                           .where(s.study_key == key).with_for_update()).one()
        if row.state == StudyState.BUILDING.value:
            state = row.state
            first = at if row.generation == row.claimed_generation else min(row.first_arrival, at)
        elif row.state == StudyState.OPEN.value:
            state, first = row.state, min(row.first_arrival, at)
        else:  # SEALED or FAILED: a new revision window opens
            state, first = StudyState.OPEN.value, at
        last = max(row.last_arrival, at)
        conn.execute(
            update(studies)
            .where(s.study_key == key)
            .values(state=state, generation=row.generation + 1, first_arrival=first, last_arrival=last,
                    due_at=_due(first, last, timing))
        )

    @staticmethod
    def _content_removed(conn: Connection, key: str, now: float) -> None:
        """An instance left the study at ``now``: bump its generation; re-open it, due at once, if it was done."""
        s = studies.c
        row = conn.execute(select(s.state, s.generation, s.last_arrival, s.due_at)
                           .where(s.study_key == key).with_for_update()).first()
        if row is None:
            return
        values: dict[str, Any] = {"generation": row.generation + 1}
        if row.state in (StudyState.SEALED.value, StudyState.FAILED.value):
            values.update(state=StudyState.OPEN.value, first_arrival=now, last_arrival=max(row.last_arrival, now),
                          due_at=now if row.due_at is None else row.due_at)
        conn.execute(update(studies).where(s.study_key == key).values(**values))


def _due(first_arrival: float, last_arrival: float, timing: Timing) -> float:
    return min(last_arrival + timing.quiet_period, first_arrival + timing.max_age)


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _instance_record(row: AnyRow) -> InstanceRecord:
    return InstanceRecord(
        sop_instance_uid=row.sop_instance_uid, sop_class_uid=row.sop_class_uid,
        study_instance_uid=row.study_instance_uid, series_instance_uid=row.series_instance_uid, path=row.path,
        size=int(row.size), digest=row.digest, source=row.source, calling_ae=row.calling_ae,
        received_at=float(row.received_at), state=InstanceState(row.state), error=row.error,
    )


def _study_record(row: AnyRow) -> StudyRecord:
    return StudyRecord(
        study_instance_uid=row.study_instance_uid, state=StudyState(row.state), revision=int(row.revision),
        generation=int(row.generation), instance_count=int(row.instance_count),
        first_arrival=float(row.first_arrival), last_arrival=float(row.last_arrival), due_at=_opt(row.due_at),
        emitted_digest=row.emitted_digest, emitted_at=_opt(row.emitted_at), last_error=row.last_error,
        lease_owner=row.lease_owner, lease_until=_opt(row.lease_until), warnings=row.warnings,
        summary=json.loads(row.summary) if row.summary else None,
    )


def _opt(value: float | None) -> float | None:
    return None if value is None else float(value)

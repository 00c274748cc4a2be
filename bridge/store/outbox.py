"""The delivery queue (outbox) of the state store: a row per sink and study revision.

Rows are inserted by ``StateStore.complete_study`` in the same transaction that records the revision, so a
crash between sealing and sending loses nothing. Per sink and study only the newest revision is sent, and never
while an older one is being sent: queuing revision n supersedes the older ones waiting (not one in flight: it
finishes first, so an older transaction can never reach the server after a newer one), a delivery claimed when a
newer revision is queued is superseded instead, and a replayed dead letter is superseded when a newer revision
exists. Deliveries are leased like studies, so several nodes share the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sqlalchemy import Connection, exists, func, insert, or_, select, update

from bridge.store.schema import deliveries, uid_key
from bridge.store.types import DeliveryClaim, DeliveryRecord, DeliveryState

log = logging.getLogger(__name__)

_WAITING = (DeliveryState.PENDING.value, DeliveryState.DEAD.value)  # superseded by a newer revision when queued
_LEASE_CLEARED: dict[str, Any] = {"lease_owner": None, "lease_until": None}


class _Transactions(Protocol):
    def _write(self, what: str) -> AbstractContextManager[Connection]: ...
    def _read(self, what: str) -> AbstractContextManager[Connection]: ...


def enqueue_deliveries(conn: Connection, study_instance_uid: str, revision: int, sinks: Sequence[str],
                       payload: str, now: float) -> None:
    """Queue ``revision`` for each of ``sinks`` (inside the caller's transaction); older unsent ones are superseded."""
    if not sinks:
        return
    key = uid_key(study_instance_uid)
    d = deliveries.c
    conn.execute(
        update(deliveries)
        .where(d.study_key == key, d.sink.in_(list(sinks)), d.revision < revision, d.state.in_(_WAITING))
        .values(state=DeliveryState.SUPERSEDED.value, **_LEASE_CLEARED)
    )
    conn.execute(insert(deliveries), [
        {"sink": sink, "study_key": key, "study_instance_uid": study_instance_uid, "revision": revision,
         "payload": payload, "state": DeliveryState.PENDING.value, "attempts": 0, "created_at": now, "due_at": now}
        for sink in sinks
    ])


class DeliveryQueue:
    """The queue's operations; mixed into StateStore, whose ``_write``/``_read`` give the transactions."""

    def claim_due_deliveries(self: _Transactions, now: float, owner: str, lease: float, limit: int,
                             sinks: Sequence[str]) -> list[DeliveryClaim]:
        """Lease up to ``limit`` due deliveries of ``sinks`` to ``owner``, oldest first; at most one per study
        and sink at a time (revision order is kept per study).

        A delivery still leased to ``owner`` itself is claimable too: the caller (one delivery loop per node) sends
        its claims one after the other and records each before it claims again, so its own lease can only be left
        from a pass whose result could not be recorded (a store outage). It is taken up again at once rather than
        when the lease ends."""
        if limit <= 0 or not sinks:
            return []
        d = deliveries.c
        other = deliveries.alias("other")
        in_flight = exists().where(  # another node sends another revision of the study to the sink: wait for it
            other.c.sink == d.sink, other.c.study_key == d.study_key, other.c.delivery_id != d.delivery_id,
            other.c.state == DeliveryState.SENDING.value, other.c.lease_until >= now, other.c.lease_owner != owner)
        with self._write("claim_due_deliveries") as conn:
            rows = conn.execute(
                select(deliveries)
                .where(d.sink.in_(list(sinks)), d.due_at <= now,
                       or_(d.state == DeliveryState.PENDING.value,
                           (d.state == DeliveryState.SENDING.value) & or_(d.lease_until < now, d.lease_owner == owner)),
                       ~in_flight)
                .order_by(d.due_at, d.delivery_id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=deliveries)
            ).all()
            claimed: list[DeliveryClaim] = []
            seen: set[tuple[str, str]] = set()
            for row in rows:
                if (row.sink, row.study_key) in seen:
                    continue
                newer = conn.execute(
                    select(func.count()).select_from(other)
                    .where(other.c.sink == row.sink, other.c.study_key == row.study_key,
                           other.c.revision > row.revision, other.c.state != DeliveryState.SUPERSEDED.value)
                ).scalar_one()
                if newer:  # an older revision left behind (its node died, or it failed): the newer one carries all
                    conn.execute(update(deliveries).where(d.delivery_id == row.delivery_id)
                                 .values(state=DeliveryState.SUPERSEDED.value, **_LEASE_CLEARED))
                    continue
                seen.add((row.sink, row.study_key))
                conn.execute(update(deliveries).where(d.delivery_id == row.delivery_id)
                             .values(state=DeliveryState.SENDING.value, lease_owner=owner, lease_until=now + lease))
                claimed.append(DeliveryClaim(row.delivery_id, row.sink, row.study_instance_uid, row.revision,
                                             row.payload, row.attempts, row.created_at))
        return claimed

    def delivery_succeeded(self: _Transactions, delivery_id: int, owner: str, now: float) -> bool:
        """Record a delivery as done; False when ``owner`` had lost it (another node took it over)."""
        return _finish(self, delivery_id, owner, "delivery_succeeded", state=DeliveryState.DELIVERED.value,
                       attempts=deliveries.c.attempts + 1, delivered_at=now, last_error=None, due_at=None)

    def delivery_failed(self: _Transactions, delivery_id: int, owner: str, error: str, retry_at: float | None) -> bool:
        """Record a failed attempt: due again at ``retry_at``, or dead-lettered when ``retry_at`` is None."""
        state = DeliveryState.DEAD if retry_at is None else DeliveryState.PENDING
        return _finish(self, delivery_id, owner, "delivery_failed", state=state.value,
                       attempts=deliveries.c.attempts + 1, last_error=error, due_at=retry_at)

    def release_delivery_leases(self: _Transactions) -> int:
        """Make every delivery being sent (SENDING) pending again; returns how many. Called at start-up by a node
        that has the store to itself: what it was sending when it stopped (killed, power lost) is sent again
        now, not when the lease ends. Sending again is safe: a delivery is idempotent (deterministic ids)."""
        d = deliveries.c
        with self._write("release_delivery_leases") as conn:
            result = conn.execute(update(deliveries).where(d.state == DeliveryState.SENDING.value)
                                  .values(state=DeliveryState.PENDING.value, **_LEASE_CLEARED))
        return int(result.rowcount or 0)

    def dead_letters(self: _Transactions, sink: str | None = None) -> list[DeliveryRecord]:
        """The dead-lettered deliveries, oldest first."""
        d = deliveries.c
        query = select(deliveries).where(d.state == DeliveryState.DEAD.value)
        if sink is not None:
            query = query.where(d.sink == sink)
        with self._read("dead_letters") as conn:
            return [_record(r) for r in conn.execute(query.order_by(d.delivery_id))]

    def deliveries_of(self: _Transactions, study_instance_uid: str) -> list[DeliveryRecord]:
        d = deliveries.c
        with self._read("deliveries_of") as conn:
            rows = conn.execute(select(deliveries).where(d.study_key == uid_key(study_instance_uid))
                                .order_by(d.delivery_id))
            return [_record(r) for r in rows]

    def latest_deliveries(self: _Transactions, study_instance_uids: Sequence[str]) -> dict[str, list[DeliveryRecord]]:
        """For each study: per sink, its delivery of the highest revision (what the study's delivery state is)."""
        d = deliveries.c
        latest: dict[tuple[str, str], DeliveryRecord] = {}
        keys = [uid_key(uid) for uid in study_instance_uids]
        with self._read("latest_deliveries") as conn:
            for start in range(0, len(keys), 500):
                rows = conn.execute(select(deliveries).where(d.study_key.in_(keys[start:start + 500]))
                                    .order_by(d.revision, d.delivery_id))
                for row in rows:
                    latest[(row.study_instance_uid, row.sink)] = _record(row)
        by_study: dict[str, list[DeliveryRecord]] = {}
        for (uid, _sink), record in sorted(latest.items()):
            by_study.setdefault(uid, []).append(record)
        return by_study

    def replay(self: _Transactions, delivery_ids: Sequence[int] | None, now: float) -> tuple[list[int], list[int]]:
        """Re-queue dead letters (all when ``delivery_ids`` is None). Returns (re-queued, superseded): a dead
        letter whose study has a newer revision queued or delivered for the same sink is superseded instead."""
        d = deliveries.c
        requeued: list[int] = []
        superseded: list[int] = []
        with self._write("replay") as conn:
            query = select(deliveries).where(d.state == DeliveryState.DEAD.value).with_for_update()
            if delivery_ids is not None:
                query = query.where(d.delivery_id.in_(list(delivery_ids)))
            for row in conn.execute(query).all():
                newer = conn.execute(
                    select(func.count()).select_from(deliveries)
                    .where(d.sink == row.sink, d.study_key == row.study_key, d.revision > row.revision,
                           d.state != DeliveryState.SUPERSEDED.value)
                ).scalar_one()
                if newer:
                    superseded.append(row.delivery_id)
                    values: dict[str, Any] = {"state": DeliveryState.SUPERSEDED.value}
                else:
                    requeued.append(row.delivery_id)
                    values = {"state": DeliveryState.PENDING.value, "attempts": 0, "due_at": now, "created_at": now}
                conn.execute(update(deliveries).where(d.delivery_id == row.delivery_id).values(**values))
        return requeued, superseded

    def delivery_backlog(self: _Transactions, now: float) -> int:
        """Deliveries being sent or due at ``now``."""
        d = deliveries.c
        with self._read("delivery_backlog") as conn:
            return int(conn.execute(
                select(func.count()).select_from(deliveries)
                .where(or_(d.state == DeliveryState.SENDING.value,
                           (d.state == DeliveryState.PENDING.value) & (d.due_at <= now)))
            ).scalar_one())

    def delivery_counts(self: _Transactions) -> dict[str, dict[str, int]]:
        """Deliveries by sink and state."""
        d = deliveries.c
        counts: dict[str, dict[str, int]] = {}
        with self._read("delivery_counts") as conn:
            for sink, state, n in conn.execute(select(d.sink, d.state, func.count()).group_by(d.sink, d.state)):
                counts.setdefault(sink, {})[state] = int(n)
        return counts


def _finish(store: _Transactions, delivery_id: int, owner: str, what: str, **values: Any) -> bool:
    d = deliveries.c
    with store._write(what) as conn:
        done = conn.execute(
            update(deliveries)
            .where(d.delivery_id == delivery_id, d.state == DeliveryState.SENDING.value, d.lease_owner == owner)
            .values(**values, **_LEASE_CLEARED)
        ).rowcount
    if not done:
        log.warning("delivery %d: lease lost before it was recorded (%s)", delivery_id, what,
                    extra={"event": "delivery.lease_lost"})
    return bool(done)


def _record(row: Any) -> DeliveryRecord:
    return DeliveryRecord(row.delivery_id, row.sink, row.study_instance_uid, row.revision,
                          DeliveryState(row.state), row.attempts, row.created_at, row.due_at, row.last_error,
                          row.delivered_at)


__all__ = ["DeliveryQueue", "enqueue_deliveries"]

"""Values that cross the store's boundary: what is recorded, what is claimed, what is reported."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class RecordOutcome(StrEnum):
    """What recording a received instance did."""

    NEW = "new"  # first time this SOP Instance UID is seen
    DUPLICATE = "duplicate"  # same SOP Instance UID, same bytes (digest): nothing changed
    REPLACED = "replaced"  # same SOP Instance UID, different bytes: the new copy replaces the old one


class InstanceState(StrEnum):
    """Where an instance is in the work queue."""

    RECEIVED = "received"  # durable in the spool, not yet parsed (study unknown)
    PARSED = "parsed"  # identity read: belongs to a study
    REJECTED = "rejected"  # cannot be used; quarantined with a reason


class StudyState(StrEnum):
    """Where a study is in its life: OPEN waits for the quiet period, BUILDING is leased by a node."""

    OPEN = "open"  # has content not yet emitted; due_at says when it seals
    BUILDING = "building"  # claimed by a worker (lease_owner until lease_until)
    SEALED = "sealed"  # every parsed instance is in the emitted revision
    FAILED = "failed"  # the last build failed; retried at due_at


@dataclass(frozen=True, slots=True)
class Receipt:
    """An instance made durable in the spool, as the listener or the folder watch knows it (no parsing)."""

    sop_instance_uid: str
    sop_class_uid: str
    path: str  # absolute path of the spooled file
    size: int
    digest: str  # SHA-256 hex of the file's bytes
    source: str  # "AE <calling AE> <peer address>" or "folder <inbox path>"
    calling_ae: str | None  # the sender's AE title, None for folder input
    received_at: float  # seconds since the epoch


@dataclass(frozen=True, slots=True)
class RecordResult:
    outcome: RecordOutcome
    previous_path: str | None  # REPLACED: the file the new copy replaced (the caller removes it)


@dataclass(frozen=True, slots=True)
class PendingInstance:
    """A received instance waiting to be parsed."""

    sop_instance_uid: str
    path: str
    digest: str
    source: str
    calling_ae: str | None
    received_at: float


@dataclass(frozen=True, slots=True)
class Identity:
    """What the parse step read from an instance: the study and series it belongs to."""

    study_instance_uid: str
    series_instance_uid: str


@dataclass(frozen=True, slots=True)
class Timing:
    """When a study seals: ``quiet_period`` seconds after its last arrival, at most ``max_age`` after its first."""

    quiet_period: float
    max_age: float


@dataclass(frozen=True, slots=True)
class StudyInstance:
    sop_instance_uid: str
    series_instance_uid: str | None
    path: str
    digest: str
    calling_ae: str | None = None  # the AE that sent it; None for inbox files


@dataclass(frozen=True, slots=True)
class StudyClaim:
    """A study leased to one worker to build a revision."""

    study_instance_uid: str
    revision: int  # the revision this build will emit (emitted revision + 1)
    generation: int  # content generation seen at claim time; complete_study compares it
    lease_owner: str
    instances: tuple[StudyInstance, ...]  # PARSED instances, ordered by SOP Instance UID


@dataclass(frozen=True, slots=True)
class StudyRecord:
    """A study as the store knows it."""

    study_instance_uid: str
    state: StudyState
    revision: int  # last emitted revision, 0 before the first
    generation: int  # bumped by every parsed instance that changes the study's content
    instance_count: int  # PARSED instances
    first_arrival: float
    last_arrival: float
    due_at: float | None
    emitted_digest: str | None
    emitted_at: float | None
    last_error: str | None
    lease_owner: str | None
    lease_until: float | None
    warnings: str | None = None  # what the last build reported (manifest mismatches), one per line
    summary: dict[str, Any] | None = None  # what the status page shows of the last emitted revision


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str | None
    series_instance_uid: str | None
    path: str
    size: int
    digest: str
    source: str
    calling_ae: str | None
    received_at: float
    state: InstanceState
    error: str | None


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """How much work is waiting: the service is idle when all are zero."""

    unparsed: int  # RECEIVED instances
    open_studies: int  # OPEN or FAILED
    building_studies: int


class DeliveryState(StrEnum):
    """Where a delivery of a study revision to one sink stands."""

    PENDING = "pending"  # due at due_at (first attempt or a retry)
    SENDING = "sending"  # leased by a node
    DELIVERED = "delivered"
    DEAD = "dead"  # dead-lettered: attempts or age exhausted, or refused by the server; `replay` re-queues it
    SUPERSEDED = "superseded"  # a newer revision of the study was queued for the same sink: never sent


@dataclass(frozen=True, slots=True)
class DeliveryClaim:
    """A delivery leased to one node: send ``payload`` to ``sink``."""

    delivery_id: int
    sink: str
    study_instance_uid: str
    revision: int
    payload: str
    attempts: int  # attempts made before this one
    created_at: float


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    delivery_id: int
    sink: str
    study_instance_uid: str
    revision: int
    state: DeliveryState
    attempts: int
    created_at: float
    due_at: float | None
    last_error: str | None
    delivered_at: float | None

"""The durable state of the service: which instances were received, which studies are open, built or sealed.

Only this package speaks SQL. ``open_store(url)`` gives a thread-safe ``StateStore`` on SQLite
(``default_sqlite_url(data_dir)``) or PostgreSQL (``postgresql+psycopg://...``, shareable by several nodes).
"""

from __future__ import annotations

from bridge.store.engine import default_sqlite_url, shared_store
from bridge.store.migrations import STORE_SCHEMA_VERSION
from bridge.store.repo import StateStore, open_store
from bridge.store.types import (
    DeliveryClaim,
    DeliveryRecord,
    DeliveryState,
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

__all__ = [
    "DeliveryClaim",
    "DeliveryRecord",
    "DeliveryState",
    "STORE_SCHEMA_VERSION",
    "shared_store",
    "Identity",
    "InstanceRecord",
    "InstanceState",
    "PendingInstance",
    "QueueCounts",
    "Receipt",
    "RecordOutcome",
    "RecordResult",
    "StateStore",
    "StudyClaim",
    "StudyInstance",
    "StudyRecord",
    "StudyState",
    "Timing",
    "default_sqlite_url",
    "open_store",
]

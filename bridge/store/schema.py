"""The state store's tables, as SQLAlchemy Core metadata (the latest schema version).

UIDs arrive from the network unchecked, so a malformed one may be thousands of characters long. PostgreSQL cannot
put such a value in a B-tree index (at most 2,704 bytes a row), so each UID column that is a key or indexed has a
companion ``*_key`` column holding ``uid_key(uid)`` (SHA-256 hex of the UID): keys, indexes and joins use the
companion, the UID column keeps the value unchanged.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import BigInteger, Column, Double, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

instances = Table(
    "instances",
    metadata,
    Column("instance_key", String(64), primary_key=True),  # uid_key(sop_instance_uid)
    Column("sop_instance_uid", Text, nullable=False),
    Column("sop_class_uid", Text, nullable=False),
    Column("study_key", String(64), nullable=True),  # uid_key(study_instance_uid)
    Column("study_instance_uid", Text, nullable=True),
    Column("series_instance_uid", Text, nullable=True),
    Column("path", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("digest", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("calling_ae", Text, nullable=True),
    Column("received_at", Double, nullable=False),
    Column("state", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("parsed_at", Double, nullable=True),
)
Index("ix_instances_state_received_at", instances.c.state, instances.c.received_at)
Index("ix_instances_study_key", instances.c.study_key)

studies = Table(
    "studies",
    metadata,
    Column("study_key", String(64), primary_key=True),  # uid_key(study_instance_uid)
    Column("study_instance_uid", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("generation", Integer, nullable=False),
    Column("first_arrival", Double, nullable=False),
    Column("last_arrival", Double, nullable=False),
    Column("due_at", Double, nullable=True),
    Column("emitted_digest", Text, nullable=True),
    Column("emitted_at", Double, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("lease_owner", Text, nullable=True),
    Column("lease_until", Double, nullable=True),
    Column("claimed_generation", Integer, nullable=True),
    Column("warnings", Text, nullable=True),  # what the last build reported (manifest mismatches), one per line
    Column("summary", Text, nullable=True),  # JSON: what the status page lists (patient, accession, files), v4
)
Index("ix_studies_state_due_at", studies.c.state, studies.c.due_at)

deliveries = Table(  # the outbox: a row per (sink, study revision), written in the transaction that seals it
    "deliveries",
    metadata,
    Column("delivery_id", Integer, primary_key=True, autoincrement=True),
    Column("sink", String(40), nullable=False),
    Column("study_key", String(64), nullable=False),  # uid_key(study_instance_uid)
    Column("study_instance_uid", Text, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("payload", Text, nullable=False),  # path of the revision's delivery payload (JSON) under the data dir
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("due_at", Double, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", Double, nullable=True),
    Column("lease_owner", Text, nullable=True),
    Column("lease_until", Double, nullable=True),
)
Index("ix_deliveries_state_due_at", deliveries.c.state, deliveries.c.due_at)
Index("ix_deliveries_sink_study_key", deliveries.c.sink, deliveries.c.study_key)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, nullable=False),  # one row
)

STORE_TABLES = ("instances", "studies", "deliveries", "schema_version")


def uid_key(uid: str) -> str:
    """The fixed-length key that stands for ``uid`` in primary keys, indexes and joins."""
    return hashlib.sha256(uid.encode("utf-8", "surrogatepass")).hexdigest()

"""Deterministic resource ids: UUIDv5 of what the resource stands for, so a rerun gives the same ids."""

from __future__ import annotations

import uuid

# Namespace of the bridge's resource ids; changing it changes every id ever emitted.
NAMESPACE = uuid.UUID("5c0a7a52-6f0e-4c63-9d7e-2f1b7c4f8e11")


def resource_id(resource_type: str, *key: str) -> str:
    """The id of the ``resource_type`` resource identified by ``key`` (e.g. a DICOM UID)."""
    return str(uuid.uuid5(NAMESPACE, "|".join((resource_type, *key))))

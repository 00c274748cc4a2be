"""Deterministic UIDs for the samples: ``2.25.`` + a name-based UUID (PS3.5 B.2), stable on every machine."""

from __future__ import annotations

import uuid

from pydicom.uid import UID

# Fixed for the life of the project: every committed sample UID is derived from it, so changing it
# changes every byte of `sample_dicom/`.
UID_NAMESPACE = uuid.UUID("9542d5af-e5c0-4c4b-93ba-24ad81e836f9")

# PS3.5 B.2: a UID may be formed as "2.25." followed by the integer value of a UUID; UUIDv5
# (RFC 9562) makes that UUID a pure function of a name, so no registered org root is needed.
UID_ROOT = "2.25."


def sample_uid(*names: str) -> str:
    """Return ``2.25.<int of uuid5(UID_NAMESPACE, "/".join(names))>``, at most 44 characters.

    The same names give the same UID in every process; callers keep names path-like and unique
    (``"samples", "ct-chest", "series-1", "instance-3"``).
    """
    if not names:
        raise ValueError("sample_uid needs at least one name")
    return UID_ROOT + str(uuid.uuid5(UID_NAMESPACE, "/".join(names)).int)


# PS3.10 7.1 File Meta Information: identifies the software that wrote the files; fixed so the File Meta Information
# is the same in every run (pydicom and highdicom would otherwise write their own).
IMPLEMENTATION_CLASS_UID = UID(sample_uid("dicom-bridge", "implementation-class"))
IMPLEMENTATION_VERSION_NAME = "DICOMBRIDGE_S1"  # SH, at most 16 characters

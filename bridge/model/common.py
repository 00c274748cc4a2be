"""Values shared by every part of the domain model: codes, names, findings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_UID = re.compile(r"[0-9]+(?:\.[0-9]+)*")
UID_MAX_LENGTH = 64  # PS3.5 9.1


def uid_problem(value: str) -> str | None:
    """Why ``value`` is not a UID (PS3.5 9.1: at most 64 characters, digits in dot-separated components), or None.

    Leading zeros in a component are tolerated: real files have them and they harm nothing downstream.
    """
    if len(value) > UID_MAX_LENGTH:
        return f"is {len(value)} characters long (at most {UID_MAX_LENGTH})"
    if not _UID.fullmatch(value):
        return "holds characters other than digits and dots"
    return None


class Severity(StrEnum):
    """How much a finding matters to the person reading the output."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Finding:
    """One deviation met while reading or building, and what the bridge did about it."""

    source: str  # file path, or "<calling AE> <SOP Instance UID>"
    where: str  # DICOM keyword or SR content-item path such as "1.4.2"
    message: str  # what is wrong and what the bridge did about it
    severity: Severity = Severity.WARNING

    def __str__(self) -> str:
        where = f" ({self.where})" if self.where else ""
        return f"{self.source}: {self.message}{where}"


@dataclass(frozen=True, slots=True)
class Code:
    """A coded concept: FHIR-style system URI, code and display."""

    system: str
    code: str
    display: str | None = None


@dataclass(frozen=True, slots=True)
class PersonName:
    """A DICOM PN value split into its components (PS3.5 6.2), alphabetic group only."""

    family: str | None = None
    given: tuple[str, ...] = ()
    prefix: tuple[str, ...] = ()
    suffix: tuple[str, ...] = ()
    text: str | None = None  # the whole alphabetic group, for display

    @property
    def is_empty(self) -> bool:
        return not (self.family or self.given or self.text)


@dataclass(frozen=True, slots=True)
class DicomDateTime:
    """A DICOM date with optional time, and the UTC offset only when DICOM stated one.

    ``iso`` is an ISO 8601 date ("2024-05-01") or local date-time ("2024-05-01T10:20:30"),
    never with an offset; ``utc_offset`` is "+01:00"-style or None when the object had no
    Timezone Offset From UTC (0008,0201).
    """

    iso: str
    utc_offset: str | None = None

    @property
    def has_time(self) -> bool:
        return "T" in self.iso

    @property
    def started_has_timezone(self) -> bool:
        return self.utc_offset is not None

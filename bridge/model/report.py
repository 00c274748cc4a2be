"""Report content read from a DICOM report object (TID 2000 family), ready for the FHIR builders."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bridge.model.common import Code, DicomDateTime, Finding, PersonName
from bridge.model.content import DeviceObserver, StructuredContent


class EuSection(StrEnum):
    """Composition sections of CompositionEuImaging, by their LOINC code (guide §2.3)."""

    IMAGING_STUDY = "18726-0"
    ORDER = "55115-0"
    HISTORY = "11329-0"
    PROCEDURE = "55111-9"
    COMPARISON = "18834-2"
    FINDINGS = "59776-5"
    IMPRESSION = "19005-8"
    RECOMMENDATION = "18783-1"
    COMMUNICATION = "73568-8"
    ADDENDUM = "55107-7"
    REPORT = "LP173421-1"


class CompletionFlag(StrEnum):
    """Completion Flag (0040,A491), PS3.3 C.17.2."""

    PARTIAL = "PARTIAL"
    COMPLETE = "COMPLETE"


class VerificationFlag(StrEnum):
    """Verification Flag (0040,A493), PS3.3 C.17.2."""

    UNVERIFIED = "UNVERIFIED"
    VERIFIED = "VERIFIED"


@dataclass(frozen=True, slots=True)
class Observer:
    """A person who authored or verified the report."""

    name: PersonName
    organization: str | None = None
    role: str | None = None
    datetime: DicomDateTime | None = None  # Verification DateTime for verifiers


@dataclass(frozen=True, slots=True)
class SectionText:
    """One TEXT item of a report section, with the heading it came from."""

    text: str
    concept: Code | None = None  # concept name of the TEXT item (e.g. DCM 121071 Finding)
    item_path: str = ""  # content-item path such as "1.3.1"


@dataclass(frozen=True, slots=True)
class ReportSection:
    """The content of one DICOM report heading, mapped to its EU Composition section."""

    section: EuSection
    heading: Code | None
    heading_meaning: str
    texts: tuple[SectionText, ...]


@dataclass(frozen=True, slots=True)
class Report:
    """A report object (SR, KOS or encapsulated document) as the FHIR builders need it.

    ``kind`` is the ObjectKind value of the source; ``sections`` hold the narrative of text reports and
    ``content`` what the object adds in structured form. ``findings`` record what could not be read, with
    the content-item path, so a malformed object still yields the rest.
    """

    sop_instance_uid: str
    sop_class_uid: str
    series_instance_uid: str
    study_instance_uid: str
    title: Code | None
    title_meaning: str
    content_datetime: DicomDateTime | None
    completion_flag: CompletionFlag | None
    verification_flag: VerificationFlag | None
    preliminary_flag: str | None
    authors: tuple[Observer, ...]
    verifiers: tuple[Observer, ...]
    language: str | None  # BCP 47 tag, from TID 1204 or Specific Character Set hints
    sections: tuple[ReportSection, ...]
    institution_name: str | None = None
    predecessor_uids: tuple[str, ...] = ()
    source: str = ""
    kind: str = "sr-text-report"
    content: StructuredContent = field(default_factory=StructuredContent)
    device_observers: tuple[DeviceObserver, ...] = ()
    referenced_study_uids: tuple[str, ...] = ()  # studies of the evidence sequences (a report may cover several)
    accession_numbers: tuple[str, ...] = ()  # of the Referenced Request Sequence items
    manufacturer_generated: bool = False  # device-generated (RDSR, algorithm output) rather than a person's report
    findings: tuple[Finding, ...] = ()
    truncated: bool = False  # the content tree hit a walk limit: status becomes partial

    def section_texts(self, section: EuSection) -> tuple[SectionText, ...]:
        return tuple(t for s in self.sections if s.section is section for t in s.texts)


@dataclass(frozen=True, slots=True)
class ReportVersion:
    """Where a report stands among the reports of its study (guide §2.19).

    ``identifier_uid`` is the SOP Instance UID of the first version: the DiagnosticReport and Composition
    identifiers (and ids) stay the same across versions, so a later version replaces the earlier one.
    """

    identifier_uid: str
    number: int = 1
    replaces: tuple[str, ...] = ()  # SOP Instance UIDs of the earlier versions, oldest first
    appends_to: str | None = None  # an addendum: the identifier UID of the report it adds to
    amends_final: bool = False  # an earlier version was final: a final version of it is ``amended``

    @staticmethod
    def single(report: Report) -> ReportVersion:
        return ReportVersion(report.sop_instance_uid)

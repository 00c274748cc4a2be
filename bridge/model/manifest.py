"""MADO imaging-study manifests (mado.md): what an incoming manifest says, and what the bridge's own will say.

``ManifestDescription`` is read from a received manifest KOS (MADO "Manifest with Description" in any of its
three title-code generations, or an XDS-I.b "Manifest"): its retrieve locations and its descriptors, kept
as written so they can be checked against the instances actually received.

``ManifestPlan`` is everything needed to write the manifest of one study revision, in both forms (the DICOM
KOS and the FHIR R4 document Bundle): the shared instances, the retrieve side per series, the requests, the
creator. Both writers take the same plan, so the two forms cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bridge.model.common import Code, DicomDateTime, Finding
from bridge.model.study import Instance, Issuer, Series, Study


@dataclass(frozen=True, slots=True)
class RetrieveSite:
    """Where the instances of a series can be fetched: WADO-RS base URL, DIMSE AE title, Retrieve Location UID."""

    wado_rs_base_url: str | None = None  # Retrieve URL (0008,1190): a WADO-RS *base*, not a study URL
    retrieve_ae_title: str | None = None  # Retrieve AE Title (0008,0054)
    retrieve_location_uid: str | None = None  # Retrieve Location UID (0040,E011): OID of the source

    @property
    def empty(self) -> bool:
        return not (self.wado_rs_base_url or self.retrieve_ae_title or self.retrieve_location_uid)


# -- an incoming manifest, as written -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One referenced instance of a manifest group, with its descriptors (table C/D of mado.md §2.3)."""

    sop_instance_uid: str
    sop_class_uid: str
    instance_number: str | None = None  # (113609) TEXT, as written
    number_of_frames: int | None = None  # (121140) NUM
    document_title: Code | None = None  # (121144) CODE, for a referenced KOS
    description: str | None = None  # (113012) TEXT, for a referenced KOS


@dataclass(frozen=True, slots=True)
class ManifestSeries:
    """One series of a manifest: its evidence item (retrieve side) and its Image Library Group, if any."""

    series_instance_uid: str
    retrieve: RetrieveSite = field(default_factory=RetrieveSite)
    modality: str | None = None  # (121139) CODE value
    date: str | None = None  # (131561) DATE, DICOM DA as written
    time: str | None = None  # (131562) TIME, DICOM TM as written
    description: str | None = None  # (131563) TEXT
    number: str | None = None  # (113607) TEXT
    target_region: Code | None = None  # (123014) CODE
    target_region_text: str | None = None  # (123014) TEXT
    laterality: Code | None = None  # (111027) CODE
    instance_count: int | None = None  # (131564) NUM (or the TEXT the TI sample writes)
    entries: tuple[ManifestEntry, ...] = ()  # Image Library entries; empty without an Image Library
    references: tuple[tuple[str, str], ...] = ()  # (SOP Class UID, SOP Instance UID) of the evidence item


@dataclass(frozen=True, slots=True)
class ManifestDescription:
    """A received manifest KOS: which instances it shares, where they can be retrieved, how it describes them."""

    sop_instance_uid: str
    study_instance_uid: str
    title: Code | None
    mado: bool  # a MADO manifest (Image Library); False: an XDS-I.b manifest (113030), references only
    display_uri: str | None = None  # (0040,E012) at top level or in the evidence item, or the TI private tag
    modalities: tuple[str, ...] = ()  # Image Library (121139)
    target_regions: tuple[Code, ...] = ()  # Image Library (123014)
    series_count: int | None = None  # Image Library (131565)
    series: tuple[ManifestSeries, ...] = ()
    findings: tuple[Finding, ...] = ()  # what the reader tolerated (siblings for children, TEXT for NUM, ...)


# -- the bridge's own manifest ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestedProcedure:
    """One (accession, placer order) pair of the shared instances: a Referenced Request Sequence item."""

    accession_number: str
    issuer: Issuer | None = None  # Issuer of Accession Number Sequence
    placer_order_number: str | None = None  # Placer Order Number / Imaging Service Request (0040,2016)
    placer_issuer: Issuer | None = None  # Order Placer Identifier Sequence (0040,0026)
    description: str | None = None  # Requested Procedure Description (0032,1060)
    procedure_codes: tuple[Code, ...] = ()  # Requested Procedure Code Sequence (0032,1064)
    requested_procedure_id: str | None = None  # (0040,1001)


@dataclass(frozen=True, slots=True)
class KeyObjectDescriptor:
    """How a shared KOS (a key image note) is described in the manifest: its title and description."""

    title: Code
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ManifestCreator:
    """Who makes the manifest: the bridge's manufacturer name and the institution it runs for."""

    manufacturer: str
    institution_name: str
    institution_oid: str | None = None  # Organization identifier (urn:oid:) and XON id
    software_version: str | None = None


@dataclass(frozen=True, slots=True)
class ManifestPlan:
    """The manifest of one study revision, ready for both writers.

    ``study`` holds the shared instances only: received manifests, rejection notes and the instances they
    rejected are already out, and the manifest never lists itself. UIDs are deterministic: the same shared
    set gives the same ``sop_instance_uid``; a changed study gives a new one (mado.md §7 item 19).
    """

    study: Study
    sop_instance_uid: str  # the KOS's SOP Instance UID = the FHIR Bundle/Composition identifier
    series_instance_uid: str  # the manifest's own series
    created: DicomDateTime  # Content Date/Time of the KOS, timestamp of the Bundle
    timezone_offset: str  # Timezone Offset From UTC (0008,0201), "+HHMM"/"-HHMM"; applies to every DA/TM
    requests: tuple[RequestedProcedure, ...]
    retrieve: dict[str, RetrieveSite]  # per Series Instance UID
    creator: ManifestCreator
    key_objects: dict[str, KeyObjectDescriptor] = field(default_factory=dict)  # per shared KOS SOP Instance UID
    display_uri: str | None = None  # viewer launch URL for the study
    target_regions: tuple[Code, ...] = ()  # CID IHE-MADO1 (the same ten codes as the report's value set)
    procedure_codes: tuple[Code, ...] = ()  # root HAS CONCEPT MOD (121023)
    patient_issuer_oid: str | None = None  # Issuer of Patient ID Qualifiers > Universal Entity ID (ISO)
    language: str = "en"  # of the DocumentReference attachments
    findings: tuple[Finding, ...] = ()  # what the plan could not fill (no Retrieve Location UID, ...)

    @property
    def accession_number(self) -> str | None:
        """(0008,0050): the accession when there is exactly one, else None (all go in the Referenced Requests)."""
        accessions = {r.accession_number for r in self.requests}
        return next(iter(accessions)) if len(accessions) == 1 else None


def ordered_series(series: Iterable[Series]) -> list[Series]:
    """The order both manifest forms list series in: Series Number (absent last), then Series Instance UID."""
    return sorted(series, key=lambda s: (s.series_number is None, s.series_number or 0, s.series_instance_uid))


def ordered_instances(instances: Iterable[Instance]) -> list[Instance]:
    """The order both manifest forms list instances in: Instance Number (absent last), then SOP Instance UID."""
    return sorted(instances, key=lambda i: (i.instance_number is None, i.instance_number or 0, i.sop_instance_uid))

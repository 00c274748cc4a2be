"""Study, series, instance, patient and order as read from DICOM headers (PS3.3 C.7)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bridge.model.common import Code, DicomDateTime, Finding, PersonName


class ObjectKind(StrEnum):
    """What an instance is to the bridge, from its SOP class, template and root concept."""

    IMAGE = "image"
    SR_TEXT_REPORT = "sr-text-report"  # TID 2000 / 2005 / untemplated text report
    SR_MEASUREMENT = "sr-measurement"  # TID 1500
    SR_DOSE = "sr-dose"  # radiation dose SR
    SR_OTHER = "sr-other"
    KEY_OBJECTS = "key-objects"  # KOS: key image note, manifest, rejection note
    ENCAPSULATED_PDF = "encapsulated-pdf"
    ENCAPSULATED_CDA = "encapsulated-cda"
    OTHER = "other"

    @property
    def is_report(self) -> bool:
        return self in (
            ObjectKind.SR_TEXT_REPORT,
            ObjectKind.SR_MEASUREMENT,
            ObjectKind.SR_DOSE,
            ObjectKind.KEY_OBJECTS,
            ObjectKind.ENCAPSULATED_PDF,
            ObjectKind.ENCAPSULATED_CDA,
        )


@dataclass(frozen=True, slots=True)
class Issuer:
    """Who assigned an identifier: Issuer of Patient ID / Issuer of Accession Number (HL7 v2 HD)."""

    local_id: str | None = None  # Local Namespace Entity ID / Issuer of Patient ID
    universal_id: str | None = None  # Universal Entity ID
    universal_id_type: str | None = None  # Universal Entity ID Type: ISO, DNS, URI, UUID...


@dataclass(frozen=True, slots=True)
class Patient:
    """Patient module (PS3.3 C.7.1.1)."""

    patient_id: str | None
    issuer: Issuer | None
    name: PersonName | None
    birth_date: str | None  # ISO date
    sex: str | None  # DICOM M / F / O


@dataclass(frozen=True, slots=True)
class Order:
    """The requested procedure as far as the image headers tell it: accession and request codes."""

    accession_number: str
    issuer: Issuer | None = None
    requested_procedure_id: str | None = None
    requested_procedure_description: str | None = None
    requested_procedure_codes: tuple[Code, ...] = ()
    reason_codes: tuple[Code, ...] = ()  # Reason for Requested Procedure Code Sequence (0040,100A)
    reason_text: str | None = None  # Reason for the Requested Procedure (0040,1002)
    requesting_physician: PersonName | None = None  # Requesting Physician (0032,1032)
    placer_order_number: str | None = None  # Placer Order Number / Imaging Service Request (0040,2016)
    placer_issuer: Issuer | None = None  # Order Placer Identifier Sequence (0040,0026)


@dataclass(frozen=True, slots=True)
class PerformedProcedure:
    """The performed procedure step as an instance's header tells it (PS3.3 C.7.3.1 General Series).

    ``procedure_codes`` are the codes of the procedure itself: Procedure Code Sequence (0008,1032), or in an SR
    Performed Procedure Code Sequence (0040,A372); ``protocol_codes`` the Performed Protocol Code Sequence.
    """

    step_id: str | None = None  # Performed Procedure Step ID (0040,0253)
    started: DicomDateTime | None = None  # Performed Procedure Step Start Date/Time (0040,0244/0245)
    description: str | None = None  # Performed Procedure Step Description (0040,0254)
    protocol_codes: tuple[Code, ...] = ()  # Performed Protocol Code Sequence (0040,0260)
    procedure_codes: tuple[Code, ...] = ()
    performing_physicians: tuple[PersonName, ...] = ()  # Performing Physician's Name (0008,1050)
    operators: tuple[PersonName, ...] = ()  # Operators' Name (0008,1070)


@dataclass(frozen=True, slots=True)
class Equipment:
    """General Equipment module (PS3.3 C.7.5.1)."""

    manufacturer: str | None = None
    model_name: str | None = None
    station_name: str | None = None
    device_serial_number: str | None = None
    software_versions: tuple[str, ...] = ()
    institution_name: str | None = None
    institution_department: str | None = None
    device_uid: str | None = None  # Device UID (0018,1002)
    device_id: str | None = None  # Device ID (0018,1003)
    unique_device_identifiers: tuple[str, ...] = ()  # UDI Sequence (0018,100A) > Unique Device Identifier
    manufacturer_device_class_uids: tuple[str, ...] = ()  # Manufacturer's Device Class UID (0018,100B)


@dataclass(frozen=True, slots=True)
class Instance:
    """One SOP instance of a series."""

    sop_instance_uid: str
    sop_class_uid: str
    instance_number: int | None
    kind: ObjectKind
    title: str | None = None  # document title (SR/KOS/PDF) or Instance description
    number_of_frames: int | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class Series:
    """General Series module (PS3.3 C.7.3.1) and the instances received for it, in UID order."""

    series_instance_uid: str
    modality: str
    series_number: int | None
    series_description: str | None
    body_part_examined: str | None
    body_site: Code | None  # SNOMED CT, from Body Part Examined or Anatomic Region Sequence
    laterality: Code | None
    started: DicomDateTime | None
    equipment: Equipment
    instances: tuple[Instance, ...]


@dataclass(frozen=True, slots=True)
class Study:
    """A study as far as the received instances tell it; series in UID order."""

    study_instance_uid: str
    study_id: str | None
    study_description: str | None
    started: DicomDateTime | None
    referring_physician: PersonName | None
    patient: Patient
    order: Order | None
    series: tuple[Series, ...]
    anatomic_regions: tuple[Code, ...] = ()  # the guide's ten-code value set
    findings: tuple[Finding, ...] = field(default=())
    performed_procedure: PerformedProcedure | None = None

    @property
    def number_of_instances(self) -> int:
        return sum(len(s.instances) for s in self.series)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(sorted({s.modality for s in self.series}))

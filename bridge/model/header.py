"""What one DICOM file tells about itself and its study: the unit that extraction hands on."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.model.common import Code, DicomDateTime, Finding, PersonName
from bridge.model.report import Report
from bridge.model.study import Equipment, Instance, Order, Patient, PerformedProcedure


@dataclass(frozen=True, slots=True)
class InstanceIdentity:
    """The four UIDs that place an instance: what the service reads first, before the full header."""

    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str


@dataclass(frozen=True, slots=True)
class InstanceHeader:
    """The header of one instance, flattened: patient, study, series and instance attributes.

    Extraction produces one per file; ``extract_study`` groups them by Study Instance UID.
    ``report`` is set for report objects, read in the same pass as the header.
    """

    source: str
    study_instance_uid: str
    series_instance_uid: str
    instance: Instance
    patient: Patient
    study_id: str | None
    study_description: str | None
    study_started: DicomDateTime | None
    referring_physician: PersonName | None
    order: Order | None
    modality: str
    series_number: int | None
    series_description: str | None
    series_started: DicomDateTime | None
    body_part_examined: str | None
    anatomic_region: Code | None  # from Anatomic Region Sequence, SNOMED CT
    laterality: Code | None
    equipment: Equipment
    report: Report | None = None
    findings: tuple[Finding, ...] = ()
    performed_procedure: PerformedProcedure | None = None

"""DICOM header -> InstanceHeader: patient, study, series, equipment and instance (PS3.3 C.7)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from bridge.errors import MissingAttributeError
from bridge.extract.classify import classify
from bridge.extract.codes import anatomic_region_for
from bridge.extract.sr.tid2000 import extract_report
from bridge.extract.values import (
    SNOMED_SYSTEM,
    code,
    date_iso,
    date_time,
    first_code,
    integer,
    issuer,
    person_name,
    strings,
    text,
    utc_offset,
)
from bridge.model import Code, Equipment, Finding, Instance, InstanceHeader, Issuer, Order, Patient
from bridge.model.common import Severity

_REQUIRED_UIDS = (
    ("StudyInstanceUID", "Study Instance UID"),
    ("SeriesInstanceUID", "Series Instance UID"),
    ("SOPInstanceUID", "SOP Instance UID"),
    ("SOPClassUID", "SOP Class UID"),
)
# Image Laterality / Laterality defined terms (PS3.3 C.7.3.1) -> SNOMED CT laterality qualifiers
_LATERALITY = {
    "L": Code(SNOMED_SYSTEM, "7771000", "Left"),
    "R": Code(SNOMED_SYSTEM, "24028007", "Right"),
    "B": Code(SNOMED_SYSTEM, "51440002", "Right and left"),
}


def extract_header(ds: Dataset, source: str) -> InstanceHeader:
    """The InstanceHeader of one dataset; report objects get their report content too.

    Raises:
        MissingAttributeError: a UID the bridge groups by is absent or empty.
    """
    uids = _required_uids(ds, source)
    findings: list[Finding] = []
    kind = classify(ds)
    offset = utc_offset(ds)
    instance = Instance(
        sop_instance_uid=uids["SOPInstanceUID"],
        sop_class_uid=uids["SOPClassUID"],
        instance_number=integer(ds, "InstanceNumber"),
        kind=kind,
        title=_instance_title(ds),
        number_of_frames=integer(ds, "NumberOfFrames"),
        source=source,
    )
    modality = text(ds, "Modality")
    if modality is None:
        modality = "SR" if kind.name.startswith("SR") else "OT"
        findings.append(Finding(source, "Modality", f"Modality is missing; recorded as {modality}"))
    anatomic = first_code(ds, "AnatomicRegionSequence")
    report = extract_report(ds, source) if kind.is_report else None
    return InstanceHeader(
        source=source,
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        instance=instance,
        patient=_patient(ds),
        study_id=text(ds, "StudyID"),
        study_description=text(ds, "StudyDescription"),
        study_started=date_time(text(ds, "StudyDate"), text(ds, "StudyTime"), offset),
        referring_physician=person_name(ds.get("ReferringPhysicianName")),
        order=_order(ds),
        modality=modality,
        series_number=integer(ds, "SeriesNumber"),
        series_description=text(ds, "SeriesDescription"),
        series_started=date_time(text(ds, "SeriesDate"), text(ds, "SeriesTime"), offset),
        body_part_examined=text(ds, "BodyPartExamined"),
        anatomic_region=_anatomic_region(anatomic, findings, source),
        laterality=_laterality(ds),
        equipment=_equipment(ds),
        report=report,
        findings=tuple(findings),
    )


def _required_uids(ds: Dataset, source: str) -> dict[str, str]:
    uids: dict[str, str] = {}
    for keyword, name in _REQUIRED_UIDS:
        value = text(ds, keyword)
        if value is None and keyword == "SOPClassUID":
            value = text(ds.get("file_meta", Dataset()), "MediaStorageSOPClassUID")
        if value is None and keyword == "SOPInstanceUID":
            value = text(ds.get("file_meta", Dataset()), "MediaStorageSOPInstanceUID")
        if value is None:
            raise MissingAttributeError(source, f"{name} is missing", keyword)
        uids[keyword] = value
    return uids


def _patient(ds: Dataset) -> Patient:
    qualifiers = ds.get("IssuerOfPatientIDQualifiersSequence")
    return Patient(
        patient_id=text(ds, "PatientID"),
        issuer=issuer(text(ds, "IssuerOfPatientID"), qualifiers[0] if qualifiers else None),
        name=person_name(ds.get("PatientName")),
        birth_date=_birth_date(ds),
        sex=text(ds, "PatientSex"),
    )


def _birth_date(ds: Dataset) -> str | None:
    return date_iso(text(ds, "PatientBirthDate"))


def _order(ds: Dataset) -> Order | None:
    accession = text(ds, "AccessionNumber")
    request = ds.get("RequestAttributesSequence")
    first_request = request[0] if request else None
    if accession is None and first_request is not None:
        accession = text(first_request, "AccessionNumber")
    if accession is None:
        referenced = ds.get("ReferencedRequestSequence")  # SR Document General module (PS3.3 C.17.2)
        if referenced:
            first_request = referenced[0]
            accession = text(first_request, "AccessionNumber")
    if accession is None:
        return None
    issuer_seq = ds.get("IssuerOfAccessionNumberSequence")
    if not issuer_seq and first_request is not None:
        issuer_seq = first_request.get("IssuerOfAccessionNumberSequence")
    source = first_request if first_request is not None else ds
    codes = ds.get("RequestedProcedureCodeSequence") or source.get("RequestedProcedureCodeSequence") or ()
    return Order(
        accession_number=accession,
        issuer=_accession_issuer(issuer_seq),
        requested_procedure_id=text(source, "RequestedProcedureID"),
        requested_procedure_description=text(ds, "RequestedProcedureDescription")
        or text(source, "RequestedProcedureDescription"),
        requested_procedure_codes=tuple(c for c in (code(item) for item in codes) if c is not None),
    )


def _accession_issuer(seq: object) -> Issuer | None:
    items = list(seq) if seq else []  # type: ignore[call-overload]
    return issuer(None, items[0]) if items else None


def _anatomic_region(anatomic: Code | None, findings: list[Finding], source: str) -> Code | None:
    """The series' anatomic region as SNOMED CT, from Anatomic Region Sequence when it maps."""
    if anatomic is None:
        return None
    if anatomic.system != SNOMED_SYSTEM:
        findings.append(
            Finding(source, "AnatomicRegionSequence", f"code {anatomic.code} is not SNOMED CT; body site from "
                    "Body Part Examined instead", Severity.INFO)
        )
        return None
    return anatomic


def _laterality(ds: Dataset) -> Code | None:
    value = text(ds, "Laterality") or text(ds, "ImageLaterality") or text(ds, "FrameLaterality")
    return _LATERALITY.get(value.upper()) if value else None


def _equipment(ds: Dataset) -> Equipment:
    return Equipment(
        manufacturer=text(ds, "Manufacturer"),
        model_name=text(ds, "ManufacturerModelName"),
        station_name=text(ds, "StationName"),
        device_serial_number=text(ds, "DeviceSerialNumber"),
        software_versions=strings(ds, "SoftwareVersions"),
        institution_name=text(ds, "InstitutionName"),
        institution_department=text(ds, "InstitutionalDepartmentName"),
    )


def _instance_title(ds: Dataset) -> str | None:
    """Document title for SR/KOS/PDF (root concept meaning or Document Title), else Instance description."""
    root = ds.get("ConceptNameCodeSequence")
    if root:
        meaning = text(root[0], "CodeMeaning")
        if meaning:
            return meaning
    return text(ds, "DocumentTitle")


def region_of(code: Code | None) -> Code | None:
    """The guide's ten-code anatomical region for a SNOMED body site, or None."""
    if code is None or code.system != SNOMED_SYSTEM:
        return None
    return anatomic_region_for(code.code, "SCT")


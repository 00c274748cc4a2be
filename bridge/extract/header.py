"""DICOM header -> InstanceHeader: patient, study, series, equipment and instance (PS3.3 C.7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from pydicom.dataset import Dataset

from bridge.errors import InvalidUidError, MissingAttributeError
from bridge.extract.classify import classify
from bridge.extract.report import extract_report_object
from bridge.extract.values import (
    SNOMED_SYSTEM,
    UNCACHEABLE,
    codes,
    date_iso,
    date_time,
    first_code,
    integer,
    issuer,
    person_name,
    person_name_of,
    raw_bytes,
    strings,
    text,
    utc_offset,
)
from bridge.model import (
    Code,
    Equipment,
    Finding,
    Instance,
    InstanceHeader,
    Order,
    Patient,
    PerformedProcedure,
    PersonName,
)
from bridge.model.common import Severity, uid_problem

# (keyword, name, File Meta Information stand-in when the data set lacks it)
_REQUIRED_UIDS = (
    ("StudyInstanceUID", "Study Instance UID", None),
    ("SeriesInstanceUID", "Series Instance UID", None),
    ("SOPInstanceUID", "SOP Instance UID", "MediaStorageSOPInstanceUID"),
    ("SOPClassUID", "SOP Class UID", "MediaStorageSOPClassUID"),
)
# Image Laterality / Laterality defined terms (PS3.3 C.7.3.1) -> SNOMED CT laterality qualifiers
_LATERALITY = {
    "L": Code(SNOMED_SYSTEM, "7771000", "Left"),
    "R": Code(SNOMED_SYSTEM, "24028007", "Right"),
    "B": Code(SNOMED_SYSTEM, "51440002", "Right and left"),
}


_T = TypeVar("_T")
# Instances of one study repeat the same patient, equipment and order bytes: what was built from identical
# bytes (and the same character set) is reused. Bounded; per process.
_MEMO: dict[tuple[object, ...], object] = {}
_MEMO_LIMIT = 1024
_PATIENT_KEYWORDS = ("PatientName", "PatientID", "IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence",
                     "PatientBirthDate", "PatientSex")
_EQUIPMENT_KEYWORDS = ("Manufacturer", "ManufacturerModelName", "StationName", "DeviceSerialNumber",
                       "SoftwareVersions", "InstitutionName", "InstitutionalDepartmentName", "DeviceUID", "DeviceID",
                       "UDISequence", "ManufacturerDeviceClassUID")
_ORDER_KEYWORDS = ("AccessionNumber", "RequestAttributesSequence", "ReferencedRequestSequence",
                   "IssuerOfAccessionNumberSequence", "RequestedProcedureDescription", "RequestedProcedureCodeSequence",
                   "ReasonForTheRequestedProcedure", "ReasonForRequestedProcedureCodeSequence", "RequestingPhysician",
                   "PlacerOrderNumberImagingServiceRequest", "OrderPlacerIdentifierSequence")
_PROCEDURE_KEYWORDS = ("PerformedProcedureStepID", "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
                       "TimezoneOffsetFromUTC", "PerformedProcedureStepDescription", "PerformedProtocolCodeSequence",
                       "ProcedureCodeSequence", "PerformedProcedureCodeSequence", "PerformingPhysicianName",
                       "OperatorsName")


def _memoized(ds: Dataset, keywords: tuple[str, ...], build: Callable[[Dataset], _T]) -> _T:
    """``build(ds)``, reused for a later data set whose ``keywords`` hold the same bytes."""
    key = (build, raw_bytes(ds, "SpecificCharacterSet"), *(raw_bytes(ds, k) for k in keywords))
    if UNCACHEABLE in key:
        return build(ds)
    if key in _MEMO:
        return cast(_T, _MEMO[key])
    value = build(ds)
    if len(_MEMO) >= _MEMO_LIMIT:
        _MEMO.clear()
    _MEMO[key] = value
    return value


def extract_header(ds: Dataset, source: str) -> InstanceHeader:
    """The InstanceHeader of one dataset; report objects get their report content too.

    Raises:
        MissingAttributeError: a UID the bridge groups by is absent or empty.
    """
    uids = required_uids(ds, source)
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
    report = extract_report_object(ds, source, kind) if kind.is_report else None
    return InstanceHeader(
        source=source,
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        instance=instance,
        patient=_memoized(ds, _PATIENT_KEYWORDS, _patient),
        study_id=text(ds, "StudyID"),
        study_description=text(ds, "StudyDescription"),
        study_started=date_time(text(ds, "StudyDate"), text(ds, "StudyTime"), offset),
        referring_physician=person_name_of(ds, "ReferringPhysicianName"),
        order=_memoized(ds, _ORDER_KEYWORDS, _order),
        modality=modality,
        series_number=integer(ds, "SeriesNumber"),
        series_description=text(ds, "SeriesDescription"),
        series_started=date_time(text(ds, "SeriesDate"), text(ds, "SeriesTime"), offset),
        body_part_examined=text(ds, "BodyPartExamined"),
        anatomic_region=_anatomic_region(anatomic, findings, source),
        laterality=_laterality(ds),
        equipment=_memoized(ds, _EQUIPMENT_KEYWORDS, _equipment),
        report=report,
        findings=tuple(findings),
        performed_procedure=_memoized(ds, _PROCEDURE_KEYWORDS, _performed_procedure),
    )


def required_uids(ds: Dataset, source: str) -> dict[str, str]:
    """Study, Series, SOP Instance and SOP Class UID by keyword, the last two from the file meta if need be.

    Raises:
        MissingAttributeError: one is absent or empty.
        InvalidUidError: one is not a UID.
    """
    uids: dict[str, str] = {}
    meta = getattr(ds, "file_meta", None)
    for keyword, name, meta_keyword in _REQUIRED_UIDS:
        value = _uid_text(ds, keyword, name, source)
        if value is None and meta_keyword is not None and meta is not None:
            value = _uid_text(meta, meta_keyword, name, source)
        if value is None:
            raise MissingAttributeError(source, f"{name} is missing", keyword)
        problem = uid_problem(value)
        if problem is not None:  # it would become a FHIR id and a file name: refuse rather than guess
            raise InvalidUidError(source, f"{name} {_shown(value)} {problem}", keyword)
        uids[keyword] = value
    return uids


def _uid_text(ds: Dataset, keyword: str, name: str, source: str) -> str | None:
    """text() of a UID element, refused when the file encodes it with another VR (its bytes would be read as
    numbers, or not at all)."""
    element = ds.get_item(keyword, keep_deferred=True)
    vr = getattr(element, "VR", None) if element is not None else None
    if vr not in (None, "UI", "UN"):
        raise InvalidUidError(source, f"{name} is encoded as {vr}, not as a UID (UI)", keyword)
    return text(ds, keyword)


def _shown(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else f"{value[:limit]}...")


def _patient(ds: Dataset) -> Patient:
    qualifiers = ds.get("IssuerOfPatientIDQualifiersSequence")
    return Patient(
        patient_id=text(ds, "PatientID"),
        issuer=issuer(text(ds, "IssuerOfPatientID"), qualifiers[0] if qualifiers else None),
        name=person_name_of(ds, "PatientName"),
        birth_date=_birth_date(ds),
        sex=text(ds, "PatientSex"),
    )


def _birth_date(ds: Dataset) -> str | None:
    return date_iso(text(ds, "PatientBirthDate"))


def _order(ds: Dataset) -> Order | None:
    """Accession from the header (else its request items) and the requested procedure from the request item.

    Images carry the request in Request Attributes Sequence (PS3.3 C.7.3.1), SRs in Referenced Request
    Sequence (C.17.2).
    """
    accession = text(ds, "AccessionNumber")
    request: Dataset | None = None
    for keyword in ("RequestAttributesSequence", "ReferencedRequestSequence"):
        if keyword not in ds:
            continue
        items = ds.get(keyword)
        if items:
            request = items[0]
            break
    if accession is None and request is not None:
        accession = text(request, "AccessionNumber")
    if accession is None:
        return None
    issuer_seq = ds.get("IssuerOfAccessionNumberSequence")
    if not issuer_seq and request is not None:
        issuer_seq = request.get("IssuerOfAccessionNumberSequence")
    source = request if request is not None else ds
    placer_seq = source.get("OrderPlacerIdentifierSequence") or ds.get("OrderPlacerIdentifierSequence")
    return Order(
        accession_number=accession,
        issuer=issuer(None, issuer_seq[0]) if issuer_seq else None,
        requested_procedure_id=text(source, "RequestedProcedureID"),
        requested_procedure_description=text(source, "RequestedProcedureDescription")
        or text(ds, "RequestedProcedureDescription"),
        requested_procedure_codes=codes(source, "RequestedProcedureCodeSequence")
        or codes(ds, "RequestedProcedureCodeSequence"),
        reason_codes=codes(source, "ReasonForRequestedProcedureCodeSequence")
        or codes(ds, "ReasonForRequestedProcedureCodeSequence"),
        reason_text=text(source, "ReasonForTheRequestedProcedure") or text(ds, "ReasonForTheRequestedProcedure"),
        # SRs carry it in the Referenced Request Sequence item (C.17.2), some images at the top level.
        requesting_physician=person_name(source.get("RequestingPhysician"))
        or person_name_of(ds, "RequestingPhysician"),
        placer_order_number=text(source, "PlacerOrderNumberImagingServiceRequest")
        or text(ds, "PlacerOrderNumberImagingServiceRequest"),
        placer_issuer=issuer(None, placer_seq[0]) if placer_seq else None,
    )


def _performed_procedure(ds: Dataset) -> PerformedProcedure | None:
    """The performed procedure step of the General Series module (PS3.3 C.7.3.1), None when it says nothing.

    The procedure code is Procedure Code Sequence (0008,1032, General Study), in an SR Performed Procedure Code
    Sequence (0040,A372, C.17.2).
    """
    procedure = PerformedProcedure(
        step_id=text(ds, "PerformedProcedureStepID"),
        started=date_time(text(ds, "PerformedProcedureStepStartDate"), text(ds, "PerformedProcedureStepStartTime"),
                          utc_offset(ds)),
        description=text(ds, "PerformedProcedureStepDescription"),
        protocol_codes=codes(ds, "PerformedProtocolCodeSequence"),
        procedure_codes=codes(ds, "ProcedureCodeSequence") or codes(ds, "PerformedProcedureCodeSequence"),
        performing_physicians=_person_names(ds.get("PerformingPhysicianName")),
        operators=_person_names(ds.get("OperatorsName")),
    )
    return None if procedure == PerformedProcedure() else procedure


def _person_names(value: Any) -> tuple[PersonName, ...]:
    """Every name of a multi-valued PN element (VM 1-n), empty ones dropped, each once."""
    if value is None or value == "":
        return ()
    values = value if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue" else [value]
    names = (person_name(v) for v in values)
    return tuple(dict.fromkeys(n for n in names if n is not None))


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
        device_uid=text(ds, "DeviceUID"),
        device_id=text(ds, "DeviceID"),
        unique_device_identifiers=tuple(
            udi for udi in (text(item, "UniqueDeviceIdentifier") for item in ds.get("UDISequence") or ()) if udi
        ),
        manufacturer_device_class_uids=strings(ds, "ManufacturerDeviceClassUID"),
    )


def _instance_title(ds: Dataset) -> str | None:
    """Document title of an SR/KOS (root concept meaning) or encapsulated document (Document Title)."""
    root = ds.get("ConceptNameCodeSequence")
    if root:
        meaning = text(root[0], "CodeMeaning")
        if meaning:
            return meaning
    return text(ds, "DocumentTitle")

"""What every SR, KOS and encapsulated document says about itself (SR Document General module, PS3.3 C.17.2;
sr-mapping.md §0.4): flags, dates, observers, language, predecessors, evidence. Content is read elsewhere."""

from __future__ import annotations

from typing import TypeVar

from pydicom.dataset import Dataset

from bridge.extract.sr.tree import ContentItem, WalkResult
from bridge.extract.values import SCHEME_SYSTEMS, date_time, dt_value, person_name, person_name_of, text, utc_offset
from bridge.model import (
    Code,
    CompletionFlag,
    DeviceObserver,
    ImageReference,
    Observer,
    PersonName,
    Report,
    VerificationFlag,
)

DCM = SCHEME_SYSTEMS["DCM"]
LN = SCHEME_SYSTEMS["LN"]

LANGUAGE_OF_CONTENT = Code(DCM, "121049")  # TID 1204
OBSERVER_TYPE = Code(DCM, "121005")  # TID 1002
PERSON_OBSERVER_NAME = Code(DCM, "121008")
PERSON_OBSERVER_ORGANIZATION = Code(DCM, "121009")
PERSON_OBSERVER_ROLE = Code(DCM, "121010")
DEVICE_OBSERVER = "121007"




_Flag = TypeVar("_Flag", CompletionFlag, VerificationFlag)


def _flag(enum: type[_Flag], value: str | None) -> _Flag | None:
    if value is None:
        return None
    try:
        return enum(value.upper())
    except ValueError:
        return None


def _language(root: ContentItem) -> str | None:
    for item in root.children:
        if item.relationship == "HAS CONCEPT MOD" and item.is_concept(LANGUAGE_OF_CONTENT) and item.code:
            language = item.code.code
            country = next(
                (c.code.code for c in item.children if c.code is not None and c.code.system.endswith("3166")),
                None,
            )
            return f"{language}-{country}" if country and "-" not in language else language
    return None


def _authors(ds: Dataset, root: ContentItem) -> tuple[Observer, ...]:
    """Authors from Author Observer Sequence, else the root TID 1002 person observer context."""
    authors = _authors_from_sequence(ds)
    return authors or tuple(_context_observers(root))


def _context_observers(root: ContentItem) -> list[Observer]:
    """Person observers of the root TID 1002 context; each Observer Type or name item starts a new one."""
    observers: list[Observer] = []
    name: PersonName | None = None
    organization: str | None = None
    role: str | None = None
    is_device = False

    def flush() -> None:
        if name is not None and not is_device:
            observers.append(Observer(name=name, organization=organization, role=role))

    for item in root.children:
        if item.relationship != "HAS OBS CONTEXT":
            continue
        if item.is_concept(OBSERVER_TYPE) or (item.is_concept(PERSON_OBSERVER_NAME) and name is not None):
            flush()
            name, organization, role = None, None, None
            if item.is_concept(OBSERVER_TYPE):
                is_device = bool(item.code and item.code.code == DEVICE_OBSERVER)
        if item.is_concept(PERSON_OBSERVER_NAME):
            name = item.person or person_name(item.text)  # some SRs write the name as TEXT
        elif item.is_concept(PERSON_OBSERVER_ORGANIZATION):
            organization = item.text
        elif item.is_concept(PERSON_OBSERVER_ROLE) and item.code is not None:
            role = item.code.display or item.code.code
    flush()
    return observers


def _verifiers(ds: Dataset, offset: str | None) -> tuple[Observer, ...]:
    verifiers: list[Observer] = []
    for item in ds.get("VerifyingObserverSequence") or ():
        name = person_name_of(item, "VerifyingObserverName")
        if name is None:
            continue
        verifiers.append(
            Observer(
                name=name,
                organization=text(item, "VerifyingOrganization"),
                datetime=dt_value(text(item, "VerificationDateTime"), offset),
            )
        )
    return tuple(verifiers)


def _predecessors(ds: Dataset) -> tuple[str, ...]:
    uids: list[str] = []
    for study in ds.get("PredecessorDocumentsSequence") or ():
        for series in study.get("ReferencedSeriesSequence") or ():
            for sop in series.get("ReferencedSOPSequence") or ():
                uid = text(sop, "ReferencedSOPInstanceUID")
                if uid:
                    uids.append(uid)
    return tuple(uids)

DEVICE_OBSERVER_UID = Code(DCM, "121012")
DEVICE_OBSERVER_NAME = Code(DCM, "121013")
DEVICE_OBSERVER_MANUFACTURER = Code(DCM, "121014")
DEVICE_OBSERVER_MODEL = Code(DCM, "121015")
DEVICE_OBSERVER_SERIAL = Code(DCM, "121016")
DEVICE_OBSERVER_LOCATION = Code(DCM, "121017")


def base_report(ds: Dataset, source: str, kind: str, tree: WalkResult | None) -> Report:
    """The Report of any report object with no content yet: identity, title, flags, people, evidence."""
    offset = utc_offset(ds)
    root = tree.root if tree is not None else None
    title = root.concept if root is not None else None
    meaning = (title.display if title and title.display else None) or text(ds, "DocumentTitle") or "Imaging report"
    evidence = evidence_references(ds)
    return Report(
        sop_instance_uid=text(ds, "SOPInstanceUID") or "",
        sop_class_uid=text(ds, "SOPClassUID") or "",
        series_instance_uid=text(ds, "SeriesInstanceUID") or "",
        study_instance_uid=text(ds, "StudyInstanceUID") or "",
        title=title,
        title_meaning=meaning,
        content_datetime=date_time(text(ds, "ContentDate"), text(ds, "ContentTime"), offset),
        completion_flag=_flag(CompletionFlag, text(ds, "CompletionFlag")),
        verification_flag=_flag(VerificationFlag, text(ds, "VerificationFlag")),
        preliminary_flag=text(ds, "PreliminaryFlag"),
        authors=_authors(ds, root) if root is not None else _authors_from_sequence(ds),
        verifiers=_verifiers(ds, offset),
        language=_language(root) if root is not None else None,
        sections=(),
        institution_name=text(ds, "InstitutionName"),
        predecessor_uids=_predecessors(ds),
        source=source,
        kind=kind,
        device_observers=tuple(device_observers(root)) if root is not None else (),
        referenced_study_uids=tuple(dict.fromkeys(r.study_instance_uid for r in evidence if r.study_instance_uid)),
        accession_numbers=_request_accessions(ds),
        findings=tuple(tree.findings) if tree is not None else (),
        truncated=tree.truncated if tree is not None else False,
    )


def evidence_references(ds: Dataset) -> tuple[ImageReference, ...]:
    """Every instance of Current Requested Procedure Evidence and Pertinent Other Evidence, with its series
    and study: where the series of a referenced image is found (sr-mapping.md §3.2)."""
    refs: list[ImageReference] = []
    for keyword in ("CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"):
        for study in ds.get(keyword) or ():
            study_uid = text(study, "StudyInstanceUID")
            for series in study.get("ReferencedSeriesSequence") or ():
                series_uid = text(series, "SeriesInstanceUID")
                for sop in series.get("ReferencedSOPSequence") or ():
                    uid = text(sop, "ReferencedSOPInstanceUID")
                    if uid:
                        refs.append(ImageReference(text(sop, "ReferencedSOPClassUID") or "", uid, series_uid,
                                                   study_uid))
    return tuple(refs)


def device_observers(root: ContentItem) -> list[DeviceObserver]:
    """Device observers of the root TID 1002 context; each Observer Type item starts a new one."""
    observers: list[DeviceObserver] = []
    current: dict[str, str | None] | None = None
    fields = {
        DEVICE_OBSERVER_UID: "uid",
        DEVICE_OBSERVER_NAME: "name",
        DEVICE_OBSERVER_MANUFACTURER: "manufacturer",
        DEVICE_OBSERVER_MODEL: "model_name",
        DEVICE_OBSERVER_SERIAL: "serial_number",
        DEVICE_OBSERVER_LOCATION: "location",
    }
    for item in root.children:
        if item.relationship != "HAS OBS CONTEXT":
            continue
        if item.is_concept(OBSERVER_TYPE):
            if current is not None and any(current.values()):
                observers.append(DeviceObserver(**current))
            current = {} if item.code is not None and item.code.code == DEVICE_OBSERVER else None
            continue
        for concept, name in fields.items():
            if item.is_concept(concept):
                if current is None and concept == DEVICE_OBSERVER_UID:
                    current = {}  # a device context without the Observer Type item
                if current is not None:
                    current[name] = item.text
    if current is not None and any(current.values()):
        observers.append(DeviceObserver(**current))
    return observers


def _authors_from_sequence(ds: Dataset) -> tuple[Observer, ...]:
    authors: list[Observer] = []
    for item in ds.get("AuthorObserverSequence") or ():
        if text(item, "ObserverType") not in (None, "PSN"):
            continue
        name = person_name_of(item, "PersonName")
        if name is not None:
            institution = item.get("InstitutionName")
            authors.append(Observer(name=name, organization=str(institution).strip() if institution else None))
    return tuple(authors)


def _request_accessions(ds: Dataset) -> tuple[str, ...]:
    values = [text(item, "AccessionNumber") for item in ds.get("ReferencedRequestSequence") or ()]
    own = text(ds, "AccessionNumber")
    return tuple(dict.fromkeys(v for v in (own, *values) if v))

"""TID 2000 / 2005 and untemplated text reports -> Report (sr-mapping.md §2, §0.4)."""

from __future__ import annotations

from typing import TypeVar

from pydicom.dataset import Dataset

from bridge.extract.sr.tree import ContentItem, walk
from bridge.extract.values import SCHEME_SYSTEMS, date_time, dt_value, person_name, text, utc_offset
from bridge.model import (
    Code,
    CompletionFlag,
    EuSection,
    Observer,
    PersonName,
    Report,
    ReportSection,
    SectionText,
    VerificationFlag,
)

DCM = SCHEME_SYSTEMS["DCM"]
LN = SCHEME_SYSTEMS["LN"]

# CID 7001 headings (LOINC) and the legacy DCM heading codes -> EU Composition sections (sr-mapping.md §2.2)
HEADING_SECTIONS: dict[tuple[str, str], EuSection] = {
    (LN, "11329-0"): EuSection.HISTORY,
    (DCM, "121060"): EuSection.HISTORY,
    (LN, "55752-0"): EuSection.HISTORY,
    (LN, "18785-6"): EuSection.HISTORY,
    (DCM, "121109"): EuSection.HISTORY,
    (LN, "55108-5"): EuSection.HISTORY,
    (DCM, "121110"): EuSection.HISTORY,
    (LN, "55115-0"): EuSection.ORDER,
    (DCM, "121062"): EuSection.ORDER,
    (LN, "55111-9"): EuSection.PROCEDURE,
    (DCM, "121064"): EuSection.PROCEDURE,
    (LN, "29549-3"): EuSection.PROCEDURE,
    (LN, "55109-3"): EuSection.PROCEDURE,
    (DCM, "121113"): EuSection.PROCEDURE,
    (LN, "73569-6"): EuSection.PROCEDURE,
    (LN, "55114-3"): EuSection.COMPARISON,
    (DCM, "121066"): EuSection.COMPARISON,
    (LN, "18834-2"): EuSection.COMPARISON,
    (DCM, "121068"): EuSection.COMPARISON,
    (LN, "59776-5"): EuSection.FINDINGS,
    (DCM, "121070"): EuSection.FINDINGS,
    (LN, "55113-5"): EuSection.FINDINGS,
    (DCM, "121180"): EuSection.FINDINGS,
    (LN, "19005-8"): EuSection.IMPRESSION,
    (DCM, "121072"): EuSection.IMPRESSION,
    (LN, "55110-1"): EuSection.IMPRESSION,
    (DCM, "121076"): EuSection.IMPRESSION,
    (LN, "55112-7"): EuSection.IMPRESSION,
    (DCM, "121111"): EuSection.IMPRESSION,
    (LN, "18783-1"): EuSection.RECOMMENDATION,
    (DCM, "121074"): EuSection.RECOMMENDATION,
    (LN, "73568-8"): EuSection.COMMUNICATION,
    (LN, "55107-7"): EuSection.ADDENDUM,
    (DCM, "121078"): EuSection.ADDENDUM,
}
# Heading meanings in other languages seen in RIS-generated SRs without codes (sr-mapping.md §1.2)
HEADING_SYNONYMS: dict[str, EuSection] = {
    "history": EuSection.HISTORY,
    "clinical information": EuSection.HISTORY,
    "indication": EuSection.HISTORY,
    "anamnese": EuSection.HISTORY,
    "fragestellung": EuSection.HISTORY,
    "request": EuSection.ORDER,
    "procedure": EuSection.PROCEDURE,
    "technique": EuSection.PROCEDURE,
    "comparison": EuSection.COMPARISON,
    "findings": EuSection.FINDINGS,
    "befund": EuSection.FINDINGS,
    "impression": EuSection.IMPRESSION,
    "impressions": EuSection.IMPRESSION,
    "conclusion": EuSection.IMPRESSION,
    "conclusions": EuSection.IMPRESSION,
    "beurteilung": EuSection.IMPRESSION,
    "recommendation": EuSection.RECOMMENDATION,
    "recommendations": EuSection.RECOMMENDATION,
    "addendum": EuSection.ADDENDUM,
}
LANGUAGE_OF_CONTENT = Code(DCM, "121049")  # TID 1204
OBSERVER_TYPE = Code(DCM, "121005")  # TID 1002
PERSON_OBSERVER_NAME = Code(DCM, "121008")
PERSON_OBSERVER_ORGANIZATION = Code(DCM, "121009")
PERSON_OBSERVER_ROLE = Code(DCM, "121010")
DEVICE_OBSERVER = "121007"


def extract_report(ds: Dataset, source: str) -> Report:
    """The Report of a TID 2000-style SR: headings to EU sections, flags, observers, language."""
    tree = walk(ds, source)
    root = tree.root
    offset = utc_offset(ds)
    title = root.concept
    return Report(
        sop_instance_uid=text(ds, "SOPInstanceUID") or "",
        sop_class_uid=text(ds, "SOPClassUID") or "",
        series_instance_uid=text(ds, "SeriesInstanceUID") or "",
        study_instance_uid=text(ds, "StudyInstanceUID") or "",
        title=title,
        title_meaning=(title.display if title and title.display else None) or "Imaging report",
        content_datetime=date_time(text(ds, "ContentDate"), text(ds, "ContentTime"), offset),
        completion_flag=_flag(CompletionFlag, text(ds, "CompletionFlag")),
        verification_flag=_flag(VerificationFlag, text(ds, "VerificationFlag")),
        preliminary_flag=text(ds, "PreliminaryFlag"),
        authors=_authors(ds, root),
        verifiers=_verifiers(ds, offset),
        language=_language(root),
        sections=_sections(root),
        institution_name=text(ds, "InstitutionName"),
        predecessor_uids=_predecessors(ds),
        source=source,
    )


_Flag = TypeVar("_Flag", CompletionFlag, VerificationFlag)


def _flag(enum: type[_Flag], value: str | None) -> _Flag | None:
    if value is None:
        return None
    try:
        return enum(value.upper())
    except ValueError:
        return None


def _sections(root: ContentItem) -> tuple[ReportSection, ...]:
    sections: list[ReportSection] = []
    loose: list[SectionText] = []
    for item in root.children:
        if item.relationship not in (None, "CONTAINS"):
            continue
        if item.value_type == "CONTAINER":
            section = _section_of(item)
            texts = tuple(_texts(item, prefix=None))
            if texts:
                sections.append(ReportSection(section, item.concept, item.meaning or section.name.title(), texts))
        elif item.value_type == "TEXT" and item.text:
            loose.append(SectionText(item.text, item.concept, item.path))
    if loose:  # text directly under the root: the guide's all-in-one "report" section
        sections.append(ReportSection(EuSection.REPORT, None, "Report", tuple(loose)))
    return tuple(sections)


def _section_of(item: ContentItem) -> EuSection:
    if item.concept is not None:
        section = HEADING_SECTIONS.get((item.concept.system, item.concept.code))
        if section is not None:
            return section
    meaning = (item.meaning or "").strip().lower()
    return HEADING_SYNONYMS.get(meaning, EuSection.REPORT)


def _texts(container: ContentItem, prefix: str | None) -> list[SectionText]:
    """TEXT items of a heading in source order; nested containers are flattened with their meaning."""
    texts: list[SectionText] = []
    for item in container.children:
        if item.relationship not in (None, "CONTAINS"):
            continue
        if item.value_type == "TEXT" and item.text:
            body = f"{prefix}: {item.text}" if prefix else item.text
            texts.append(SectionText(body, item.concept, item.path))
        elif item.value_type == "CODE" and item.code is not None:
            label = item.meaning or "Code"
            texts.append(SectionText(f"{label}: {item.code.display or item.code.code}", item.concept, item.path))
        elif item.value_type == "CONTAINER":
            texts.extend(_texts(item, item.meaning or prefix))
    return texts


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
    authors: list[Observer] = []
    for item in ds.get("AuthorObserverSequence") or ():
        if text(item, "ObserverType") not in (None, "PSN"):
            continue
        name = person_name(item.get("PersonName"))
        if name is not None:
            institution = item.get("InstitutionName")
            authors.append(Observer(name=name, organization=str(institution).strip() if institution else None))
    if authors:
        return tuple(authors)
    return tuple(_context_observers(root))


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
            name = item.person
        elif item.is_concept(PERSON_OBSERVER_ORGANIZATION):
            organization = item.text
        elif item.is_concept(PERSON_OBSERVER_ROLE) and item.code is not None:
            role = item.code.display or item.code.code
    flush()
    return observers


def _verifiers(ds: Dataset, offset: str | None) -> tuple[Observer, ...]:
    verifiers: list[Observer] = []
    for item in ds.get("VerifyingObserverSequence") or ():
        name = person_name(item.get("VerifyingObserverName"))
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

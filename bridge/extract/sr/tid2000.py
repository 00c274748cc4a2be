"""TID 2000 / 2005 and untemplated text reports -> Report (sr-mapping.md §2, §0.4)."""

from __future__ import annotations

from dataclasses import replace

from pydicom.dataset import Dataset

from bridge.extract.sr.general import base_report
from bridge.extract.sr.tree import ContentItem, walk
from bridge.extract.values import SCHEME_SYSTEMS
from bridge.model import EuSection, Report, ReportSection, SectionText

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


def extract_report(ds: Dataset, source: str) -> Report:
    """The Report of a TID 2000-style SR: headings to EU sections, flags, observers, language."""
    tree = walk(ds, source)
    report = base_report(ds, source, "sr-text-report", tree)
    return replace(report, sections=_sections(tree.root))


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



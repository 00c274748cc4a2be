"""TID 2000 / 2005 and untemplated text reports -> Report (sr-mapping.md §2, §0.4)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace

from pydicom.dataset import Dataset

from bridge.extract.sr.general import base_report, evidence_references
from bridge.extract.sr.tree import ContentItem, WalkResult, walk
from bridge.extract.values import SCHEME_SYSTEMS
from bridge.model import (
    Code,
    CodedObservation,
    EuSection,
    Finding,
    FindingSite,
    ImageReference,
    KeyImageSelection,
    Region,
    RegionKind,
    Report,
    ReportSection,
    SectionText,
    Severity,
    StructuredContent,
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



SCT = SCHEME_SYSTEMS["SCT"]
FINDING = Code(DCM, "121071")
PREVIOUS_FINDING = Code(DCM, "121069")
IMPRESSION = Code(DCM, "121073")
CONCLUSION = Code(DCM, "121077")
RECOMMENDATION = Code(DCM, "121075")
FINDING_SITE = Code(SCT, "363698007")
LATERALITY = Code(SCT, "272741003")
TOPOGRAPHICAL_MODIFIER = Code(SCT, "106233006")
MEASUREMENT_METHOD = Code(SCT, "370129005")
KEY_OBJECT_DESCRIPTION = Code(DCM, "113012")
KEY_IMAGE_SECTIONS = (EuSection.FINDINGS, EuSection.IMPRESSION)


def extract_report(ds: Dataset, source: str) -> Report:
    """The Report of a TID 2000-style SR: headings to EU sections, coded findings, key images, flags, people."""
    tree = walk(ds, source)
    report = base_report(ds, source, "sr-text-report", tree)
    reader = _SectionReader(tree, source, evidence_references(ds), report.study_instance_uid)
    sections = reader.sections(tree.root)
    content = StructuredContent(
        observations=tuple(reader.observations),
        key_images=reader.key_images(report.title),
        conclusion_codes=tuple(reader.conclusions),
        recommendation_codes=tuple(reader.recommendations),
        evidence=reader.evidence,
    )
    # tree.findings also holds what resolving by-reference items found while reading the sections
    return replace(report, sections=sections, content=content, findings=(*tree.findings, *reader.findings))


@dataclass
class _SectionReader:
    """One pass over the headings: text for the narrative, CODE/NUM items as observations, IMAGEs as key images."""

    tree: WalkResult
    source: str
    evidence: tuple[ImageReference, ...]
    study_uid: str
    observations: list[CodedObservation] = field(default_factory=list)
    conclusions: list[Code] = field(default_factory=list)
    recommendations: list[Code] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    _images: dict[tuple[str, str], list[ImageReference]] = field(default_factory=lambda: defaultdict(list))
    _image_sections: dict[tuple[str, str], EuSection] = field(default_factory=dict)
    _descriptions: list[str] = field(default_factory=list)
    _listed: dict[str, ImageReference] = field(default_factory=dict)  # evidence by SOP Instance UID

    def __post_init__(self) -> None:
        self._listed = {r.sop_instance_uid: r for r in self.evidence}

    def sections(self, root: ContentItem) -> tuple[ReportSection, ...]:
        sections: list[ReportSection] = []
        loose: list[SectionText] = []
        for item in root.children:
            if item.relationship not in (None, "CONTAINS"):
                continue
            if item.value_type == "CONTAINER":
                section = _section_of(item)
                texts = tuple(self._texts(item, None, section))
                if texts:
                    sections.append(ReportSection(section, item.concept, item.meaning or section.name.title(), texts))
                elif not item.children:
                    self.findings.append(Finding(self.source, item.path, "empty heading dropped", Severity.INFO))
            elif item.value_type == "TEXT" and item.text:
                loose.append(SectionText(item.text, item.concept, item.path))
        if loose:  # text directly under the root: the guide's all-in-one "report" section
            sections.append(ReportSection(EuSection.REPORT, None, "Report", tuple(loose)))
        return tuple(sections)

    def _texts(self, container: ContentItem, prefix: str | None, section: EuSection) -> list[SectionText]:
        """TEXT items of a heading in source order; nested containers are flattened with their meaning."""
        texts: list[SectionText] = []
        for child in container.children:
            item = self.tree.resolve(child) if child.value_type == "BYREF" else child
            if item is None or child.relationship not in (None, "CONTAINS", "INFERRED FROM"):
                continue
            if item.value_type == "TEXT" and item.text:
                if item.is_concept(KEY_OBJECT_DESCRIPTION):
                    self._descriptions.append(item.text)
                body = f"{prefix}: {item.text}" if prefix else item.text
                texts.append(SectionText(body, item.concept, item.path))
            elif item.value_type == "CODE" and item.code is not None:
                label = item.meaning or "Code"
                texts.append(SectionText(f"{label}: {item.code.display or item.code.code}", item.concept, item.path))
                self._coded(item, section)
            elif item.value_type == "NUM" and item.quantity is not None and item.concept is not None:
                q = item.quantity
                shown = f"{q.value} {q.unit or ''}".strip() if q.value is not None else "no value"
                texts.append(SectionText(f"{item.meaning or 'Measurement'}: {shown}", item.concept, item.path))
                self._coded(item, section)
            elif item.value_type in ("IMAGE", "COMPOSITE") and child is item:
                self._image(item, section)
            elif item.value_type == "CONTAINER" and child is item:
                texts.extend(self._texts(item, item.meaning or prefix, section))
        return texts

    def _coded(self, item: ContentItem, section: EuSection) -> None:
        """A CODE or NUM item: a finding Observation; impressions and conclusions also give conclusionCode."""
        if item.value_type == "CODE" and item.code is not None:
            if section is EuSection.RECOMMENDATION or item.is_concept(RECOMMENDATION):
                self.recommendations.append(item.code)
                return
            if item.is_concept(IMPRESSION) or item.is_concept(CONCLUSION):
                self.conclusions.append(item.code)
        sites: list[FindingSite] = []
        method: Code | None = None
        regions: list[Region] = []
        for modifier in item.children:
            if modifier.is_concept(FINDING_SITE) and modifier.code is not None:
                laterality = modifier.child(LATERALITY)
                sites.append(FindingSite(
                    modifier.code,
                    laterality.code if laterality is not None else None,
                    tuple(m.code for m in modifier.children_named(TOPOGRAPHICAL_MODIFIER) if m.code is not None),
                ))
            elif modifier.is_concept(MEASUREMENT_METHOD) and modifier.code is not None:
                method = modifier.code
            elif modifier.value_type in ("IMAGE", "COMPOSITE"):
                regions.append(Region(RegionKind.SOURCE_IMAGE, modifier.concept, self._placed(modifier.references),
                                      path=modifier.path))
        self.observations.append(CodedObservation(
            path=item.path,
            section=section.value,
            concept=item.concept,
            value=item.code,
            quantity=item.quantity,
            finding_sites=tuple(sites),
            method=method,
            regions=tuple(regions),
            observation_uid=item.observation_uid,
        ))

    def _placed(self, refs: tuple[ImageReference, ...]) -> tuple[ImageReference, ...]:
        """References with their series and study from the evidence sequences, where listed there."""
        placed = []
        for ref in refs:
            listed = self._listed.get(ref.sop_instance_uid)
            placed.append(replace(ref, series_instance_uid=listed.series_instance_uid if listed else None,
                                  study_instance_uid=(listed.study_instance_uid if listed else None) or self.study_uid))
        return tuple(placed)

    def _image(self, item: ContentItem, section: EuSection) -> None:
        for ref in self._placed(item.references):
            if ref.series_instance_uid is None:
                self.findings.append(Finding(self.source, item.path, f"image {ref.sop_instance_uid} is not in the "
                                             "evidence sequences: its series is unknown, so it is not a key image"))
                continue
            key = (ref.study_instance_uid or self.study_uid, ref.series_instance_uid)
            self._images[key].append(ref)
            self._image_sections.setdefault(key, section if section in KEY_IMAGE_SECTIONS else EuSection.FINDINGS)

    def key_images(self, title: Code | None) -> tuple[KeyImageSelection, ...]:
        description = "\n".join(self._descriptions) or None
        return tuple(
            KeyImageSelection(study, series, tuple(refs), title, description, self._image_sections[(study, series)])
            for (study, series), refs in self._images.items()
        )


def _section_of(item: ContentItem) -> EuSection:
    if item.concept is not None:
        section = HEADING_SECTIONS.get((item.concept.system, item.concept.code))
        if section is not None:
            return section
    meaning = (item.meaning or "").strip().lower()
    return HEADING_SYNONYMS.get(meaning, EuSection.REPORT)

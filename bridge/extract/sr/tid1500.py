"""TID 1500 Measurement Report -> measurement groups, measurements, qualitative evaluations (sr-mapping.md §3.2).

Only the tolerant walker's content items are used, so files without Content Template Sequence, with legacy SRT
codes or with by-reference items read the same as well-formed ones. Three containers are mapped: 126010 Imaging
Measurements (groups), 126011 Derived Imaging Measurements and the report-level C0034375 Qualitative Evaluations.
What is not consumed becomes a finding with its content-item path; nothing here raises on bad content.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from pydicom.dataset import Dataset

from bridge.extract.sr.general import base_report, evidence_references
from bridge.extract.sr.tree import ContentItem, WalkResult, walk
from bridge.extract.values import SCHEME_SYSTEMS, dt_value, utc_offset
from bridge.model import (
    Algorithm,
    Code,
    Finding,
    FindingSite,
    GroupKind,
    ImageReference,
    Measurement,
    MeasurementGroup,
    QualitativeEvaluation,
    Region,
    RegionKind,
    Report,
    Severity,
    StructuredContent,
)

DCM = SCHEME_SYSTEMS["DCM"]
SCT = SCHEME_SYSTEMS["SCT"]
UMLS = SCHEME_SYSTEMS["UMLS"]
NCIT = SCHEME_SYSTEMS["NCIt"]

# Containers of the TID 1500 root
IMAGING_MEASUREMENTS = Code(DCM, "126010")
DERIVED_IMAGING_MEASUREMENTS = Code(DCM, "126011")
QUALITATIVE_EVALUATIONS = Code(UMLS, "C0034375")
IMAGE_LIBRARY = Code(DCM, "111028")
MEASUREMENT_GROUP = Code(DCM, "125007")
LANGUAGE_OF_CONTENT = Code(DCM, "121049")
PROCEDURE_REPORTED = Code(DCM, "121058")
# Group context and findings
TRACKING_IDENTIFIER = Code(DCM, "112039")
TRACKING_UID = Code(DCM, "112040")
FINDING = Code(DCM, "121071")
FINDING_CATEGORY = Code(SCT, "276214006")
FINDING_SITE = Code(SCT, "363698007")
LATERALITY = Code(SCT, "272741003")
TOPOGRAPHICAL_MODIFIER = Code(SCT, "106233006")
MEASUREMENT_METHOD = Code(SCT, "370129005")
GEOMETRIC_PURPOSE = Code(DCM, "130400")
SOURCE_SERIES_FOR_SEGMENTATION = Code(DCM, "121232")
SERIES_INSTANCE_UID = Code(DCM, "112002")
# NUM modifiers and properties (TID 300, TID 310)
DERIVATION = Code(DCM, "121401")
INTERPRETATION_PROPERTIES = (Code(DCM, "121402"), Code(DCM, "121403"), Code(DCM, "121404"))
# TID 4019 Algorithm Identification
ALGORITHM_FAMILY = Code(DCM, "111000")
ALGORITHM_NAME = Code(DCM, "111001")
ALGORITHM_PARAMETERS = Code(DCM, "111002")
ALGORITHM_VERSION = Code(DCM, "111003")
ALGORITHM_CONCEPTS = (ALGORITHM_FAMILY, ALGORITHM_NAME, ALGORITHM_PARAMETERS, ALGORITHM_VERSION)
# TID 1502 Time Point Context: kept as notes
TIME_POINT_CONCEPTS = (
    Code(UMLS, "C2348792"),  # Time Point
    Code(NCIT, "C67447"),  # Activity Session
    Code(DCM, "126070"),  # Subject Time Point Identifier
    Code(DCM, "126071"),  # Protocol Time Point Identifier
    Code(DCM, "126072"),  # Time Point Type
    Code(DCM, "126073"),  # Time Point Order
    Code(DCM, "128740"),  # Longitudinal Temporal Offset from Event
    Code(DCM, "128741"),  # Longitudinal Temporal Event Type
)
# Region items of a group or measurement
IMAGE_REGION = Code(DCM, "111030")
REFERENCED_SEGMENT = Code(DCM, "121191")
REFERENCED_SEGMENTATION_FRAME = Code(DCM, "121214")
REGION_IN_SPACE = Code(DCM, "130488")
VOLUME_SURFACE = Code(DCM, "121231")
REAL_WORLD_VALUE_MAP = Code(DCM, "126100")
ILLUSTRATION_OF_ROI = Code(DCM, "121200")
VISUAL_EXPLANATION = Code(DCM, "130401")
SOURCE = Code(SCT, "260753009")
REGION_KINDS = {
    REFERENCED_SEGMENT: RegionKind.REFERENCED_SEGMENT,
    REFERENCED_SEGMENTATION_FRAME: RegionKind.REFERENCED_SEGMENTATION_FRAME,
    REGION_IN_SPACE: RegionKind.REGION_IN_SPACE,
    REAL_WORLD_VALUE_MAP: RegionKind.REAL_WORLD_VALUE_MAP,
    ILLUSTRATION_OF_ROI: RegionKind.ILLUSTRATION_OF_ROI,
    VISUAL_EXPLANATION: RegionKind.VISUAL_EXPLANATION,
    SOURCE: RegionKind.SOURCE_IMAGE,
}
# CODE/TEXT children of a group that are never qualitative evaluations (HL7 dicom-sr architecture.md)
EVALUATION_STOP_LIST = (
    TRACKING_IDENTIFIER,
    FINDING,
    GEOMETRIC_PURPOSE,
    Code(NCIT, "C67447"),
    FINDING_CATEGORY,
    FINDING_SITE,
    MEASUREMENT_METHOD,
)
GROUP_TEMPLATES = {kind.value: kind for kind in GroupKind}
_PIXEL_UNITS = ("1", "{pixels}", "{pixel}")


def extract_measurement_report(ds: Dataset, source: str) -> Report:
    """The Report of a TID 1500 Measurement Report, with its groups, evaluations and algorithms as content."""
    tree = walk(ds, source)
    report = base_report(ds, source, "sr-measurement", tree)
    already = len(tree.findings)  # base_report copied these; by-reference resolution may add more
    reader = _Reader(tree, source, utc_offset(ds), _series_lookup(ds, tree))
    reader.read()
    content = StructuredContent(
        groups=tuple(reader.groups),
        evaluations=tuple(reader.evaluations),
        algorithms=tuple(dict.fromkeys(reader.algorithms)),
        evidence=evidence_references(ds),
    )
    findings = (*report.findings, *tree.findings[already:], *reader.findings)
    return dataclasses.replace(report, content=content, findings=findings)


def _same(code: Code | None, other: Code) -> bool:
    return code is not None and (code.system, code.code) == (other.system, other.code)


def _is_any(item: ContentItem, concepts: Iterable[Code]) -> bool:
    return any(item.is_concept(c) for c in concepts)


def _series_lookup(ds: Dataset, tree: WalkResult) -> dict[str, tuple[str | None, str | None]]:
    """SOP Instance UID -> (series, study): the evidence sequences first, then the TID 1600 Image Library."""
    lookup: dict[str, tuple[str | None, str | None]] = {}
    library = tree.root.child(IMAGE_LIBRARY)
    if library is not None:
        _library_series(library, None, lookup)
    for ref in evidence_references(ds):  # the evidence wins over the library (sr-mapping.md §3.2)
        lookup[ref.sop_instance_uid] = (ref.series_instance_uid, ref.study_instance_uid)
    return lookup


def _library_series(container: ContentItem, inherited: str | None, lookup: dict[str, tuple[str | None, str | None]]
                    ) -> None:
    series = next((c.text for c in container.children if c.is_concept(SERIES_INSTANCE_UID) and c.text), inherited)
    for child in container.children:
        if child.value_type == "CONTAINER":
            _library_series(child, series, lookup)
        elif child.value_type in ("IMAGE", "COMPOSITE"):
            own = next((c.text for c in child.children if c.is_concept(SERIES_INSTANCE_UID) and c.text), series)
            for ref in child.references:
                if own:
                    lookup.setdefault(ref.sop_instance_uid, (own, None))


class _Reader:
    """Reads the three mapped containers of one TID 1500 tree."""

    def __init__(self, tree: WalkResult, source: str, offset: str | None,
                 series: dict[str, tuple[str | None, str | None]]) -> None:
        self.tree = tree
        self.source = source
        self.offset = offset
        self.series = series
        self.groups: list[MeasurementGroup] = []
        self.evaluations: list[QualitativeEvaluation] = []
        self.algorithms: list[Algorithm] = []
        self.findings: list[Finding] = []

    # -- findings ---------------------------------------------------------------------------------------------

    def note(self, item: ContentItem, message: str, severity: Severity = Severity.INFO) -> None:
        self.findings.append(Finding(self.source, item.path, message, severity))

    def unmapped(self, item: ContentItem, where: str) -> None:
        name = item.meaning or (item.concept.code if item.concept else "no concept name")
        self.note(item, f"{item.value_type} item '{name}' in {where} is not mapped")

    def children(self, item: ContentItem) -> list[ContentItem]:
        """The children of ``item`` with by-reference items replaced by their targets (unresolvable ones dropped)."""
        result = []
        for child in item.children:
            target = self.tree.resolve(child)
            if target is not None:
                result.append(target)
        return result

    # -- containers -------------------------------------------------------------------------------------------

    def read(self) -> None:
        root = self.tree.root
        if root.template_id not in (None, "1500"):
            self.note(root, f"root template TID {root.template_id} read as a TID 1500 measurement report",
                      Severity.WARNING)
        for item in self.children(root):
            if item.is_concept(IMAGING_MEASUREMENTS):
                self.guarded(item, self.measurements_container, derived=False)
            elif item.is_concept(DERIVED_IMAGING_MEASUREMENTS):
                self.guarded(item, self.measurements_container, derived=True)
            elif item.is_concept(QUALITATIVE_EVALUATIONS):
                self.guarded(item, self.evaluations_container)
            elif item.relationship == "HAS OBS CONTEXT" or _is_any(
                item, (LANGUAGE_OF_CONTENT, PROCEDURE_REPORTED, IMAGE_LIBRARY)
            ):
                continue  # document context: read by base_report, or used only to find series
            else:
                self.unmapped(item, "the report root")

    def guarded(self, item: ContentItem, read: Callable[..., None], **kwargs: bool) -> None:
        """Run ``read(item)``; a defect nobody foresaw costs that container, not the report."""
        try:
            read(item, **kwargs)
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            self.note(item, f"content cannot be read ({exc}); skipped", Severity.ERROR)

    def measurements_container(self, container: ContentItem, derived: bool) -> None:
        where = "Derived Imaging Measurements" if derived else "Imaging Measurements"
        loose: list[Measurement] = []
        items = self.children(container)
        for item in items:
            if item.value_type == "CONTAINER" and (item.is_concept(MEASUREMENT_GROUP) or item.template_id in
                                                   GROUP_TEMPLATES):
                try:
                    self.groups.append(self.group(item, derived))
                except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
                    self.note(item, f"measurement group cannot be read ({exc}); skipped", Severity.ERROR)
            elif derived and item.value_type == "NUM" and item.concept is not None:
                loose.append(self.measurement(item, None))  # TID 1420: measurements straight in the container
            elif _is_any(item, ALGORITHM_CONCEPTS):
                continue  # read below as the container's algorithm
            else:
                self.unmapped(item, where)
        algorithm = self.algorithm(items)
        if loose:
            self.groups.append(MeasurementGroup(path=container.path, kind=GroupKind.IMAGE, measurements=tuple(loose),
                                                algorithm=algorithm, derived=True,
                                                observation_uid=container.observation_uid,
                                                observed_at=dt_value(container.observation_datetime, self.offset)))

    def evaluations_container(self, container: ContentItem) -> None:
        for item in self.children(container):
            evaluation = self.evaluation(item)
            if evaluation is not None:
                self.evaluations.append(evaluation)
            else:
                self.unmapped(item, "Qualitative Evaluations")

    # -- groups -----------------------------------------------------------------------------------------------

    def group(self, container: ContentItem, derived: bool) -> MeasurementGroup:
        items = self.children(container)
        fields: dict[str, object] = {}
        sites: list[FindingSite] = []
        measurements: list[ContentItem] = []
        evaluations: list[QualitativeEvaluation] = []
        regions: list[Region] = []
        notes: list[str] = []
        for item in items:
            if item.is_concept(TRACKING_IDENTIFIER) and item.text:
                fields["tracking_identifier"] = item.text
            elif item.is_concept(TRACKING_UID) and item.text:
                fields["tracking_uid"] = item.text
            elif item.is_concept(FINDING_CATEGORY) and item.code is not None:
                fields["finding_category"] = item.code
            elif item.is_concept(FINDING) and item.code is not None:
                fields["finding_type"] = item.code
            elif item.is_concept(FINDING) and item.text:
                notes.append(f"{item.meaning or 'Finding'}: {item.text}")  # a TEXT finding has no code to map
            elif item.is_concept(FINDING_SITE) and item.code is not None:
                sites.append(self.finding_site(item))
            elif item.is_concept(MEASUREMENT_METHOD) and item.code is not None:
                fields["method"] = item.code
            elif item.is_concept(SOURCE_SERIES_FOR_SEGMENTATION):
                continue  # the series the segments were drawn on: not an evaluation (the selection keeps its own)
            elif _is_any(item, ALGORITHM_CONCEPTS):
                continue  # read below
            elif _is_any(item, TIME_POINT_CONCEPTS):
                notes.append(self.time_point_note(item))
            elif item.value_type == "NUM":
                if item.concept is None:
                    self.note(item, "NUM item without a concept name dropped", Severity.WARNING)
                else:
                    measurements.append(item)
            elif item.value_type in ("SCOORD", "SCOORD3D", "IMAGE", "COMPOSITE"):
                region = self.region(item)
                if region is not None:
                    regions.append(region)
            elif item.value_type in ("CODE", "TEXT") and item.is_concept(GEOMETRIC_PURPOSE):
                self.unmapped(item, "a measurement group")
            else:
                evaluation = self.evaluation(item) if item.relationship in (None, "CONTAINS") else None
                if evaluation is not None:
                    evaluations.append(evaluation)
                else:
                    self.unmapped(item, "a measurement group")
        method = fields.get("method")
        return MeasurementGroup(
            path=container.path,
            kind=self.classify(container, regions),
            finding_sites=tuple(sites),
            measurements=tuple(self.measurement(m, method if isinstance(method, Code) else None)
                               for m in measurements),
            evaluations=tuple(evaluations),
            regions=tuple(regions),
            algorithm=self.algorithm(items),
            observation_uid=container.observation_uid,
            observed_at=dt_value(container.observation_datetime, self.offset),
            notes=tuple(notes),
            derived=derived,
            **fields,  # type: ignore[arg-type]
        )

    def classify(self, container: ContentItem, regions: list[Region]) -> GroupKind:
        """TID 1410 / 1411 / 1501: the group's Content Template Sequence wins, else its ROI items decide."""
        if container.template_id in GROUP_TEMPLATES:
            return GROUP_TEMPLATES[container.template_id]
        if container.template_id is not None:
            self.note(container, f"measurement group template TID {container.template_id} unknown; classified by "
                                 "its content")
        image_regions = sum(1 for r in regions if r.kind in (RegionKind.IMAGE_REGION_2D, RegionKind.IMAGE_REGION_3D))
        in_space = sum(1 for r in regions if r.kind is RegionKind.REGION_IN_SPACE)
        kinds = {r.kind for r in regions}
        if image_regions == 1 or RegionKind.REFERENCED_SEGMENTATION_FRAME in kinds or in_space == 1:
            return GroupKind.PLANAR
        if image_regions > 1 or in_space > 1 or kinds & {RegionKind.REFERENCED_SEGMENT, RegionKind.VOLUME_SURFACE}:
            return GroupKind.VOLUMETRIC
        return GroupKind.IMAGE

    def time_point_note(self, item: ContentItem) -> str:
        value = item.text or (item.code.display or item.code.code if item.code else None) or ""
        return f"{item.meaning or 'Time point'}: {value}".rstrip(": ")

    # -- items ------------------------------------------------------------------------------------------------

    def finding_site(self, item: ContentItem) -> FindingSite:
        assert item.code is not None
        laterality: Code | None = None
        modifiers: list[Code] = []
        for child in self.children(item):
            if child.is_concept(LATERALITY) and child.code is not None:
                laterality = child.code
            elif child.is_concept(TOPOGRAPHICAL_MODIFIER) and child.code is not None:
                modifiers.append(child.code)
            else:
                self.unmapped(child, "a finding site")
        return FindingSite(item.code, laterality, tuple(modifiers))

    def measurement(self, item: ContentItem, group_method: Code | None) -> Measurement:
        assert item.concept is not None and item.quantity is not None
        fields: dict[str, object] = {}
        sites: list[FindingSite] = []
        interpretations: list[Code] = []
        regions: list[Region] = []
        children = self.children(item)
        for child in children:
            if child.is_concept(DERIVATION) and child.code is not None:
                fields["derivation"] = child.code
            elif child.is_concept(MEASUREMENT_METHOD) and child.code is not None:
                fields["method"] = child.code
            elif child.is_concept(FINDING_SITE) and child.code is not None:
                sites.append(self.finding_site(child))
            elif _is_any(child, INTERPRETATION_PROPERTIES) and child.code is not None:
                interpretations.append(child.code)
            elif child.is_concept(TRACKING_UID) and child.text:
                fields["tracking_uid"] = child.text
            elif _is_any(child, ALGORITHM_CONCEPTS):
                continue  # read below
            elif child.value_type in ("SCOORD", "SCOORD3D", "IMAGE", "COMPOSITE"):
                region = self.region(child)
                if region is not None:
                    regions.append(region)
            else:
                self.unmapped(child, "a measurement")
        self.algorithm(children)  # the model has no per-measurement algorithm: recorded with the report's
        if "method" not in fields and group_method is not None:
            fields["method"] = group_method  # inherited from the group (sr-mapping.md §3.2)
        quantity = item.quantity
        if quantity.value is not None and quantity.ucum in _PIXEL_UNITS:
            self.note(item, f"measurement in unit '{quantity.ucum}' (pixels or no unit): value kept, not physical")
        return Measurement(
            path=item.path,
            concept=item.concept,
            quantity=quantity,
            finding_sites=tuple(sites),
            interpretations=tuple(interpretations),
            regions=tuple(regions),
            observation_uid=item.observation_uid,
            observed_at=dt_value(item.observation_datetime, self.offset),
            **fields,  # type: ignore[arg-type]
        )

    def evaluation(self, item: ContentItem) -> QualitativeEvaluation | None:
        """A CODE or TEXT evaluation outside the stop list; None for anything else."""
        if item.concept is None or _is_any(item, EVALUATION_STOP_LIST):
            return None
        if item.value_type == "CODE" and item.code is not None:
            return QualitativeEvaluation(item.path, item.concept, value=item.code, observation_uid=item.observation_uid)
        if item.value_type == "TEXT" and item.text:
            return QualitativeEvaluation(item.path, item.concept, text=item.text, observation_uid=item.observation_uid)
        return None

    def algorithm(self, children: list[ContentItem]) -> Algorithm | None:
        """TID 4019 among ``children`` (of one item); also added to the report's algorithms."""
        name = next((c.text for c in children if c.is_concept(ALGORITHM_NAME) and c.text), None)
        if name is None:
            family = next((c for c in children if c.is_concept(ALGORITHM_FAMILY)), None)
            if family is not None:
                self.note(family, "Algorithm Family without Algorithm Name: algorithm not mapped", Severity.WARNING)
            return None
        algorithm = Algorithm(
            name=name,
            version=next((c.text for c in children if c.is_concept(ALGORITHM_VERSION) and c.text), None),
            parameters=tuple(c.text for c in children if c.is_concept(ALGORITHM_PARAMETERS) and c.text),
            family=next((c.code for c in children if c.is_concept(ALGORITHM_FAMILY) and c.code), None),
        )
        self.algorithms.append(algorithm)
        return algorithm

    def region(self, item: ContentItem) -> Region | None:
        """A spatial coordinate, segment or referenced object of a group or measurement as a Region."""
        if item.value_type == "SCOORD":
            children = self.children(item)
            images = tuple(ref for child in children if child.value_type == "IMAGE"
                           for ref in self.located(child.references))
            for child in children:
                if child.value_type != "IMAGE":
                    self.unmapped(child, "an image region")
            if not images:
                self.note(item, "SCOORD without the image it was selected from dropped", Severity.WARNING)
                return None
            return Region(RegionKind.IMAGE_REGION_2D, item.concept, images, item.graphic_type, item.coordinates,
                          path=item.path)
        if item.value_type == "SCOORD3D":
            kind = RegionKind.VOLUME_SURFACE if item.is_concept(VOLUME_SURFACE) else RegionKind.IMAGE_REGION_3D
            if item.frame_of_reference_uid is None:
                self.note(item, "SCOORD3D without Referenced Frame of Reference UID", Severity.WARNING)
            return Region(kind, item.concept, (), item.graphic_type, item.coordinates, item.frame_of_reference_uid,
                          path=item.path)
        kind = next((k for concept, k in REGION_KINDS.items() if _same(item.concept, concept)), None)
        if kind is None:
            kind = RegionKind.SOURCE_IMAGE
            if item.concept is not None and not item.is_concept(Code(DCM, "121233")):
                self.note(item, f"{item.value_type} item '{item.meaning}' kept as a source image reference")
        # A segment keeps the segmentation's own series: sr-mapping.md §3.2 would put the source series (121232)
        # there, but an ImagingSelection's seriesUid is the series holding its instances (DICOMweb retrieval).
        return Region(kind, item.concept, self.located(item.references), path=item.path)

    def located(self, references: Iterable[ImageReference]) -> tuple[ImageReference, ...]:
        """The references with their series and study from the evidence or the image library, when known."""
        result = []
        for ref in references:
            series, study = self.series.get(ref.sop_instance_uid, (None, None))
            result.append(dataclasses.replace(
                ref,
                series_instance_uid=ref.series_instance_uid or series,
                study_instance_uid=ref.study_instance_uid or study,
            ))
        return tuple(result)


__all__ = ["extract_measurement_report"]

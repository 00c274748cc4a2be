"""TID 1500 measurement reports -> model, on the staged highdicom and dcmqi files (sr-mapping.md §9 items 1-4)."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from bridge.extract.sr.tid1500 import extract_measurement_report
from bridge.model import (
    Algorithm,
    Code,
    GroupKind,
    MeasurementGroup,
    Region,
    RegionKind,
    Report,
    Severity,
)
from tests.conftest import shared_path

DCM = "http://dicom.nema.org/resources/ontology/DCM"
SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"

SR_DOCUMENT = ("dicom", "sr", "highdicom", "sr_document.dcm")
MULTIPLE_GROUPS = ("dicom", "sr", "highdicom", "sr_document_with_multiple_groups.dcm")
DCMQI = ("dicom", "sr", "dcmqi", "sr.dcm")
CT_IMAGE_UID = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
CT_SERIES_UID = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322"
CT_STUDY_UID = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
SEG_UID = "1.2.276.0.7230010.3.1.4.8323329.18591.1440001312.777033"
RWVM_UID = "1.2.276.0.7230010.3.1.4.8323329.18215.1440001297.928457"
PET_SERIES_UID = "1.3.6.1.4.1.14519.5.2.1.2744.7002.261560220703676715130542397405"
SEG_SERIES_UID = "1.2.276.0.7230010.3.1.3.8323329.18591.1440001312.777032"


def key(code: Code | None) -> tuple[str, str] | None:
    return (code.system, code.code) if code is not None else None


def read(parts: tuple[str, ...]) -> tuple[Dataset, Path]:
    path = shared_path(*parts)
    return dcmread(path), path


def extract(parts: tuple[str, ...]) -> Report:
    ds, path = read(parts)
    return extract_measurement_report(ds, str(path))


def strip_templates(ds: Dataset) -> Dataset:
    """A copy of ``ds`` without any Content Template Sequence, at the root or in the content tree."""
    stripped = copy.deepcopy(ds)
    stack = [stripped]
    while stack:
        item = stack.pop()
        if "ContentTemplateSequence" in item:
            del item.ContentTemplateSequence
        stack.extend(item.get("ContentSequence") or ())
    return stripped


def group_by_tracking(report: Report) -> dict[str | None, MeasurementGroup]:
    return {g.tracking_identifier: g for g in report.content.groups}


def region(group: MeasurementGroup, kind: RegionKind) -> Region:
    (match,) = [r for r in group.regions if r.kind is kind]
    return match


# -- §9 item 1 ------------------------------------------------------------------------------------------------


def test_sr_document_single_planar_group() -> None:
    report = extract(SR_DOCUMENT)
    assert report.kind == "sr-measurement"
    assert key(report.title) == (DCM, "126000")
    (group,) = report.content.groups
    assert group.kind is GroupKind.PLANAR
    assert not group.derived
    assert group.tracking_identifier == "Planar ROI Measurements"
    assert group.tracking_uid == "1.2.826.0.1.3680043.8.498.95005499519195632686309166061552196996"
    assert key(group.finding_type) == (SCT, "2748008")  # from SRT T-A7010
    (site,) = group.finding_sites
    assert key(site.site) == (SCT, "297171002")
    assert [key(m) for m in site.modifiers] == [(SCT, "280734009")]
    assert site.laterality is None

    (measurement,) = group.measurements
    assert key(measurement.concept) == (SCT, "131184002")  # from SRT G-A16A
    assert measurement.concept.display == "Area of defined region"
    assert measurement.quantity.value == "1.7"
    assert measurement.quantity.ucum == "cm2"
    assert {key(c) for c in measurement.interpretations} == {(SCT, "17621005"), (SCT, "371928007")}
    assert measurement.tracking_uid == "1.2.826.0.1.3680043.8.498.80512978961795763786957351072754445307"
    assert measurement.derivation is None

    roi = region(group, RegionKind.IMAGE_REGION_2D)
    assert roi.graphic_type == "CIRCLE"
    assert roi.coordinates == (58.0, 52.0, 58.0, 41.0)
    (image,) = roi.images
    assert image.sop_instance_uid == CT_IMAGE_UID
    assert image.series_instance_uid == CT_SERIES_UID  # from Pertinent Other Evidence
    assert image.study_instance_uid == CT_STUDY_UID
    assert report.content.evidence and report.content.evidence[0].sop_instance_uid == CT_IMAGE_UID
    assert report.preliminary_flag == "PRELIMINARY"
    assert not [f for f in report.findings if f.severity is not Severity.INFO]


# -- §9 item 2 ------------------------------------------------------------------------------------------------


def test_multiple_groups() -> None:
    report = extract(MULTIPLE_GROUPS)
    groups = group_by_tracking(report)
    assert [g.kind for g in report.content.groups] == [
        GroupKind.IMAGE,
        GroupKind.PLANAR,
        GroupKind.PLANAR,
        GroupKind.VOLUMETRIC,
    ]
    image = groups["Image0001"]
    (mean,) = image.measurements
    assert mean.concept.code == "X6K6" and mean.concept.display == "Intensity Histogram Mean"
    assert mean.quantity.ucum == "[hnsf'U]"
    # Floating Point Value wins (sr-mapping.md §0.3); the DS Numeric Value is its 11-decimal rounding
    assert Decimal(mean.quantity.value or "").quantize(Decimal("1E-11")) == Decimal("-119.07385253906")
    source = region(image, RegionKind.SOURCE_IMAGE)
    assert key(source.concept) == (SCT, "260753009")
    assert source.images[0].series_instance_uid == CT_SERIES_UID
    (position,) = image.evaluations
    assert key(position.concept) == (SCT, "51845000")

    nodule = groups["LungNodule0001"]
    assert key(nodule.finding_category) == (SCT, "49755003")
    assert key(nodule.finding_type) == (SCT, "27925004")
    assert [key(s.site) for s in nodule.finding_sites] == [(SCT, "39607008")]
    (diameter,) = nodule.measurements
    assert key(diameter.concept) == (SCT, "81827009")
    assert (diameter.quantity.value, diameter.quantity.ucum) == ("10.0", "mm")
    # Level of Significance is a qualitative evaluation; Finding Category is not (stop list)
    (significance,) = nodule.evaluations
    assert key(significance.concept) == (DCM, "121403")
    assert key(significance.value) == (SCT, "371928007")

    aorta = groups["Aorta0001"]
    assert (aorta.measurements[0].quantity.value, aorta.measurements[0].quantity.ucum) == ("20.0", "mm")
    assert region(aorta, RegionKind.IMAGE_REGION_2D).graphic_type == "POLYLINE"
    assert aorta.evaluations == ()

    vertebra = groups["Vertebra0001"]
    assert key(vertebra.measurements[0].concept) == (SCT, "118565006")
    assert (vertebra.measurements[0].quantity.value, vertebra.measurements[0].quantity.ucum) == ("200.0", "mm3")
    surface = region(vertebra, RegionKind.VOLUME_SURFACE)
    assert surface.frame_of_reference_uid == "1.3.6.1.4.1.5962.1.4.1.1.20040119072730.12322"
    assert surface.graphic_type == "POINT"

    assert all(key(e.concept) != (SCT, "276214006") for g in report.content.groups for e in g.evaluations)
    assert report.content.evaluations == ()
    (author,) = report.authors
    assert (author.name.family, author.name.given) == ("Doe", ("John",))
    assert [d.uid for d in report.device_observers] == [
        "1.2.826.0.1.3680043.10.511.3.29899283304937342586225207155834162"
    ]


# -- §9 item 4 ------------------------------------------------------------------------------------------------


def test_dcmqi_volumetric_group() -> None:
    report = extract(DCMQI)
    (group,) = report.content.groups
    assert group.kind is GroupKind.VOLUMETRIC
    assert group.tracking_identifier == "primary tumor"
    assert group.tracking_uid == "2.25.318774060119084600392715520575818119084"
    assert len(group.measurements) == 22
    assert key(group.method) == (DCM, "126410")  # under SRT G-C036 Measurement Method
    assert key(group.finding_type) == (SCT, "86049000")
    assert [key(s.site) for s in group.finding_sites] == [(SCT, "55940004")]  # SRT T-C5300
    assert set(group.notes) == {"Activity Session: 1", "Time Point: 1"}  # TID 1502 time point context

    suv = [m for m in group.measurements if key(m.concept) == (DCM, "126401")]
    assert len(suv) == 10
    assert {m.quantity.ucum for m in suv} == {"{SUVbw}g/ml"}
    derivations = {m.derivation.display: m.quantity.value for m in suv if m.derivation is not None}
    assert len(derivations) == 10  # every SUVbw value has its own derivation
    assert derivations["Mean"] == "6.01529"
    assert derivations["Maximum"] == "10.3814"
    assert derivations["Minimum"] == "2.91136"
    assert derivations["Upper Adjacent Value"] == "10.3814"  # same value as Maximum: only the derivation differs
    assert all(key(m.method) == (DCM, "126410") for m in suv)  # inherited from the group
    (volume,) = [m for m in group.measurements if key(m.concept) == (SCT, "118565006")]
    assert key(volume.method) == (DCM, "126030")  # its own method wins
    assert (volume.quantity.value, volume.quantity.ucum) == ("33.5824", "ml")

    segment = region(group, RegionKind.REFERENCED_SEGMENT)
    (seg,) = segment.images
    assert seg.sop_instance_uid == SEG_UID
    assert seg.segments == (1,)
    assert seg.series_instance_uid == SEG_SERIES_UID  # the segmentation's own series, not 121232's source series
    rwvm = region(group, RegionKind.REAL_WORLD_VALUE_MAP)
    assert [i.sop_instance_uid for i in rwvm.images] == [RWVM_UID]
    assert rwvm.images[0].series_instance_uid == "1.2.276.0.7230010.3.1.4.8323329.18215.1440001297.928456"
    assert report.completion_flag is not None and report.completion_flag.value == "PARTIAL"
    assert report.accession_numbers == ("2076699673350889",)


# -- §9 item 3 ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("parts", [SR_DOCUMENT, MULTIPLE_GROUPS, DCMQI], ids=["sr_document", "multiple", "dcmqi"])
def test_without_templates_the_model_is_the_same(parts: tuple[str, ...]) -> None:
    ds, path = read(parts)
    stripped = strip_templates(ds)
    assert "ContentTemplateSequence" not in stripped
    assert extract_measurement_report(stripped, str(path)) == extract_measurement_report(ds, str(path))


# -- highdicom cross-check (sr-mapping.md §3.3) -------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("parts", [SR_DOCUMENT, MULTIPLE_GROUPS, DCMQI], ids=["sr_document", "multiple", "dcmqi"])
def test_agrees_with_highdicom(parts: tuple[str, ...]) -> None:
    hd = pytest.importorskip("highdicom")
    path = shared_path(*parts)
    content = hd.sr.srread(path).content
    assert isinstance(content, hd.sr.MeasurementReport)
    theirs = (
        content.get_image_measurement_groups()
        + content.get_planar_roi_measurement_groups()
        + content.get_volumetric_roi_measurement_groups()
    )
    ours = group_by_tracking(extract(parts))
    assert len(theirs) == len(ours)
    for group in theirs:
        mine = ours[group.tracking_identifier]
        assert mine.tracking_uid == group.tracking_uid
        expected = sorted(float(m.value) for m in group.get_measurements())
        assert sorted(float(m.quantity.value or "nan") for m in mine.measurements) == expected
        kind = {
            "MeasurementsAndQualitativeEvaluations": GroupKind.IMAGE,
            "PlanarROIMeasurementsAndQualitativeEvaluations": GroupKind.PLANAR,
            "VolumetricROIMeasurementsAndQualitativeEvaluations": GroupKind.VOLUMETRIC,
        }[type(group).__name__]
        assert mine.kind is kind


# -- synthetic content: derived container, report-level evaluations, algorithm, defects -----------------------


def code_item(scheme: str, value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def content_item(relationship: str, value_type: str, concept: tuple[str, str, str] | None, **attrs: object
                 ) -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    if concept is not None:
        item.ConceptNameCodeSequence = Sequence([code_item(*concept)])
    for keyword, value in attrs.items():
        setattr(item, keyword, value)
    return item


def num(concept: tuple[str, str, str], value: str | None, unit: tuple[str, str, str], **attrs: object) -> Dataset:
    item = content_item("CONTAINS", "NUM", concept, **attrs)
    measured = Dataset()
    measured.MeasurementUnitsCodeSequence = Sequence([code_item(*unit)])
    if value is not None:
        measured.NumericValue = value
        item.MeasuredValueSequence = Sequence([measured])
    else:
        item.MeasuredValueSequence = Sequence([])
        item.NumericValueQualifierCodeSequence = Sequence([code_item("DCM", "114006", "Measurement failure")])
    return item


def code_value(relationship: str, concept: tuple[str, str, str], value: tuple[str, str, str]) -> Dataset:
    return content_item(relationship, "CODE", concept, ConceptCodeSequence=Sequence([code_item(*value)]))


def text_value(relationship: str, concept: tuple[str, str, str], value: str) -> Dataset:
    return content_item(relationship, "TEXT", concept, TextValue=value)


ALGORITHM = Algorithm(
    name="Lesion Analyzer",
    version="2.1",
    parameters=("threshold=0.5",),
    family=Code(DCM, "113045", "Signal Processing"),
)


def synthetic_dataset() -> Dataset:
    """sr_document.dcm with the content the staged files lack: 126011 and C0034375 containers, TID 4019, TEXT
    evaluations, laterality, a multipoint region, a NUM without value, pixel units and a few defects."""
    ds, _ = read(SR_DOCUMENT)
    ds = copy.deepcopy(ds)
    root = ds.ContentSequence
    group = root[7].ContentSequence[0]  # 1.8.1
    site = group.ContentSequence[4]  # 1.8.1.5 Finding Site
    site.ContentSequence.append(code_value("HAS CONCEPT MOD", ("SCT", "272741003", "Laterality"),
                                           ("SCT", "7771000", "Left")))
    group.ContentSequence.extend([
        text_value("CONTAINS", ("DCM", "121106", "Comment"), "smooth margin"),  # 1.8.1.7 TEXT evaluation
        code_value("CONTAINS", ("DCM", "130400", "Geometric purpose of region"),  # 1.8.1.8 stop list
                   ("DCM", "75958009", "Bounded by")),
        content_item("CONTAINS", "UIDREF", ("DCM", "999999", "Private UID"), UID="1.2.3.4"),  # 1.8.1.9
        content_item("CONTAINS", "IMAGE", None, ReferencedContentItemIdentifier=[1, 99]),  # 1.8.1.10 BYREF, dangling
        content_item("CONTAINS", "SCOORD", ("DCM", "111030", "Image Region"),  # 1.8.1.11: no source image
                     GraphicType="POINT", GraphicData=[1.0, 2.0]),
        text_value("HAS OBS CONTEXT", ("DCM", "111001", "Algorithm Name"), ALGORITHM.name),
        text_value("HAS OBS CONTEXT", ("DCM", "111003", "Algorithm Version"), "2.1"),
        text_value("HAS OBS CONTEXT", ("DCM", "111002", "Algorithm Parameters"), "threshold=0.5"),
        code_value("HAS OBS CONTEXT", ("DCM", "111000", "Algorithm Family"), ("DCM", "113045", "Signal Processing")),
    ])
    measurement = group.ContentSequence[5]  # 1.8.1.6 Area: a SCOORD it was inferred from (MULTIPOINT)
    scoord = content_item("INFERRED FROM", "SCOORD", ("DCM", "111030", "Image Region"), GraphicType="MULTIPOINT",
                          GraphicData=[10.0, 11.0, 20.0, 21.0])
    image = content_item("SELECTED FROM", "IMAGE", None)
    sop = Dataset()
    sop.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    sop.ReferencedSOPInstanceUID = CT_IMAGE_UID
    image.ReferencedSOPSequence = Sequence([sop])
    scoord.ContentSequence = Sequence([image])
    measurement.ContentSequence.append(scoord)  # 1.8.1.6.4

    derived = content_item("CONTAINS", "CONTAINER", ("DCM", "126011", "Derived Imaging Measurements"),
                           ContinuityOfContent="SEPARATE")
    derived.ContentSequence = Sequence([
        num(("SCT", "118565006", "Volume"), "512", ("UCUM", "mm3", "cubic millimeter")),  # 1.9.1
        num(("SCT", "410668003", "Length"), "42", ("UCUM", "1", "no units")),  # 1.9.2 pixels
        num(("SCT", "81827009", "Diameter"), None, ("UCUM", "mm", "mm")),  # 1.9.3 no value
    ])
    evaluations = content_item("CONTAINS", "CONTAINER", ("UMLS", "C0034375", "Qualitative Evaluations"),
                               ContinuityOfContent="SEPARATE")
    evaluations.ContentSequence = Sequence([
        code_value("CONTAINS", ("DCM", "121071", "Finding"), ("SCT", "27925004", "Nodule")),  # stop list
        code_value("CONTAINS", ("SCT", "246237000", "Character"), ("SCT", "17621005", "Normal")),  # 1.10.2
        text_value("CONTAINS", ("DCM", "121106", "Comment"), "no change since prior"),  # 1.10.3
    ])
    root.extend([derived, evaluations])
    return ds


def test_synthetic_containers_algorithm_and_defects() -> None:
    ds = synthetic_dataset()
    report = extract_measurement_report(ds, "synthetic")
    first, loose = report.content.groups
    assert first.path == "1.8.1"
    assert first.algorithm == ALGORITHM
    assert report.content.algorithms == (ALGORITHM,)
    assert key(first.finding_sites[0].laterality) == (SCT, "7771000")
    assert [(key(e.concept), e.text) for e in first.evaluations] == [((DCM, "121106"), "smooth margin")]
    multipoint = first.measurements[0].regions[0]
    assert multipoint.kind is RegionKind.IMAGE_REGION_2D and multipoint.graphic_type == "MULTIPOINT"
    assert multipoint.images[0].series_instance_uid == CT_SERIES_UID
    assert first.kind is GroupKind.PLANAR  # template 1410; the dropped SCOORD does not count

    assert loose.derived and loose.path == "1.9" and loose.kind is GroupKind.IMAGE
    volume, pixels, absent = loose.measurements
    assert (volume.quantity.value, volume.quantity.ucum) == ("512", "mm3")
    assert (pixels.quantity.value, pixels.quantity.ucum) == ("42", "1")  # kept
    assert absent.quantity.value is None and absent.quantity.absent_reason == "error"

    character, comment = report.content.evaluations
    assert (character.path, key(character.value)) == ("1.10.2", (SCT, "17621005"))
    assert (comment.path, comment.text) == ("1.10.3", "no change since prior")

    where = {f.where: f for f in report.findings}
    assert {"1.8.1.8", "1.8.1.9", "1.8.1.10", "1.8.1.11", "1.9.2", "1.10.1"} <= set(where)
    assert where["1.8.1.11"].severity is Severity.WARNING  # SCOORD without its image
    assert "1.99" in where["1.8.1.10"].message  # dangling by-reference item


def test_broken_content_never_raises() -> None:
    ds = synthetic_dataset()
    group = ds.ContentSequence[7].ContentSequence[0]
    group.ContentSequence.append(content_item("CONTAINS", "NUM", None))  # NUM without concept or value
    group.ContentSequence.append(content_item("CONTAINS", "CODE", ("DCM", "121071", "Finding")))  # CODE, no code
    del ds.ContentSequence[8].ContentSequence[0].MeasuredValueSequence  # NUM without the Type 2 sequence
    ds.ContentSequence[7].ContentSequence.append(content_item("CONTAINS", "TEXT", ("DCM", "1", "Stray"), TextValue="x"))
    report = extract_measurement_report(ds, "broken")
    assert len(report.content.groups) == 2
    assert report.content.groups[1].measurements[0].quantity.absent_reason == "unknown"
    assert {"1.8.1.16", "1.8.1.17", "1.8.2"} <= {f.where for f in report.findings}

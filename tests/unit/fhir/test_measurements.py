"""TID 1500 model -> HL7 dicom-sr shaped Observations, ImagingSelections, BodyStructures and Devices
(sr-mapping.md §3, §9 items 1-4), on the staged highdicom and dcmqi files and on hand-made model values."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fhir.resources import get_fhir_model_class
from fhir.resources.resource import Resource
from pydicom import dcmread
from pydicom.dataset import Dataset

from bridge.extract.header import extract_header
from bridge.extract.sr.tid1500 import extract_measurement_report
from bridge.extract.study import extract_study
from bridge.fhir.content import ContentContext, Placement
from bridge.fhir.datatypes import order_reference
from bridge.fhir.measurements import measurement_placement
from bridge.fhir.report import observation_status, report_status
from bridge.model import (
    Algorithm,
    Code,
    EuSection,
    FindingSite,
    GroupKind,
    ImageReference,
    Measurement,
    MeasurementGroup,
    QualitativeEvaluation,
    Quantity,
    Region,
    RegionKind,
    Report,
    StructuredContent,
)
from bridge.settings import FhirSettings
from tests.conftest import shared_path

DCM = "http://dicom.nema.org/resources/ontology/DCM"
SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
DICOM_SR = "http://hl7.org/fhir/uv/dicom-sr/StructureDefinition/"
FINDING_PROFILE = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/ObservationFindingEuImaging"
GROUP_PROFILES = [FINDING_PROFILE, DICOM_SR + "imaging-measurement-group"]
IDR_FINDING = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/HL7IDRFinding"

SR_DOCUMENT = ("dicom", "sr", "highdicom", "sr_document.dcm")
MULTIPLE_GROUPS = ("dicom", "sr", "highdicom", "sr_document_with_multiple_groups.dcm")
DCMQI = ("dicom", "sr", "dcmqi", "sr.dcm")
CT_IMAGE_UID = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
CT_SERIES_UID = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322"
PATIENT_ID = "patient-1"
STUDY_ID = "study-1"


def build(parts: tuple[str, ...], ds: Dataset | None = None) -> tuple[Placement, ContentContext]:
    path = shared_path(*parts)
    ds = ds if ds is not None else dcmread(path)
    report = extract_measurement_report(ds, str(path))
    study = extract_study([extract_header(ds, str(path))])
    return placement_for(report, study)


def placement_for(report: Report, study: Any) -> tuple[Placement, ContentContext]:
    settings = FhirSettings()
    ctx = ContentContext(
        report=report,
        study=study,
        patient_id=PATIENT_ID,
        imaging_study_id=STUDY_ID,
        settings=settings,
        observation_status=observation_status(report),
        based_on=(order_reference(study.order, settings),) if study.order is not None else (),
    )
    return measurement_placement(ctx), ctx


def as_json(resource: Resource) -> dict[str, Any]:
    return resource.model_dump(mode="json", by_alias=True, exclude_none=True)


def index(placement: Placement) -> dict[str, dict[str, Any]]:
    return {f"{r.get_resource_type()}/{r.id}": as_json(r) for r in placement.resources}


def of_type(placement: Placement, resource_type: str) -> list[dict[str, Any]]:
    return [as_json(r) for r in placement.resources if r.get_resource_type() == resource_type]


def groups(placement: Placement) -> list[dict[str, Any]]:
    profile = DICOM_SR + "imaging-measurement-group"
    return [o for o in of_type(placement, "Observation") if profile in o["meta"]["profile"]]


def members(placement: Placement, group: dict[str, Any]) -> list[dict[str, Any]]:
    resources = index(placement)
    return [resources[m["reference"]] for m in group.get("hasMember", [])]


def codes(concept: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in concept.get("coding", [])]


def derived_selections(placement: Placement, observation: dict[str, Any]) -> list[dict[str, Any]]:
    resources = index(placement)
    refs = [r["reference"] for r in observation["derivedFrom"]]
    return [resources[r] for r in refs if r.startswith("ImagingSelection/")]


def references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if isinstance(value.get("reference"), str):
            yield value["reference"]
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def assert_well_formed(placement: Placement, ctx: ContentContext) -> None:
    """Every resource survives JSON, every reference is relative and resolves in the placement (or is the
    Patient / ImagingStudy of the context), results and entries are the groups and report-level evaluations."""
    resources = index(placement)
    assert len(resources) == len(placement.resources)  # no duplicates
    for resource in placement.resources:
        text = resource.model_dump_json()
        again = get_fhir_model_class(resource.get_resource_type()).model_validate_json(text)
        assert again.model_dump_json() == text
        for ref in references(as_json(resource)):
            assert ref in resources or ref in (f"Patient/{PATIENT_ID}", f"ImagingStudy/{STUDY_ID}"), ref
    results = [r.reference for r in placement.results]
    assert results == [r.reference for r in placement.entries[EuSection.FINDINGS]]
    for ref in results:
        assert FINDING_PROFILE in resources[ref]["meta"]["profile"]
    assert [ref.reference for _, ref in placement.idr] == [f"Observation/{g['id']}" for g in groups(placement)]
    assert {url for url, _ in placement.idr} <= {IDR_FINDING}
    member_refs = {m["reference"] for g in groups(placement) for m in g.get("hasMember", [])}
    assert not member_refs & set(results)  # members are reached through hasMember only (dgr-1)
    for observation in of_type(placement, "Observation"):
        assert observation["status"] == ctx.observation_status
        assert observation["subject"] == {"reference": f"Patient/{PATIENT_ID}"}
        assert {"reference": f"ImagingStudy/{STUDY_ID}"} in observation["derivedFrom"]
        assert observation["issued"]
        assert "partOf" not in observation
        assert [b for b in observation.get("basedOn", [])] == [as_json(r) for r in ctx.based_on]
    for selection in of_type(placement, "ImagingSelection"):
        assert selection["status"] == "available"
        assert selection["derivedFrom"] == [{"reference": f"ImagingStudy/{STUDY_ID}"}]
        for instance in selection.get("instance", []):
            assert not instance["uid"].startswith("urn:")
            assert instance["sopClass"]["system"] == "urn:ietf:rfc:3986"
            assert instance["sopClass"]["code"].startswith("urn:oid:")


# -- §9 item 1 ------------------------------------------------------------------------------------------------


def test_sr_document() -> None:
    placement, ctx = build(SR_DOCUMENT)
    assert_well_formed(placement, ctx)
    (group,) = groups(placement)
    assert group["meta"]["profile"] == GROUP_PROFILES
    assert codes(group["category"][0]) == [(DCM, "125007")]
    assert codes(group["code"]) == [(DCM, "125007")]  # no finding category
    assert codes(group["valueCodeableConcept"]) == [(SCT, "2748008")]
    assert group["valueCodeableConcept"]["text"] == "Spinal cord"
    assert group["status"] == "preliminary"
    assert {"system": "urn:dicom:uid",
            "value": "urn:oid:1.2.826.0.1.3680043.8.498.95005499519195632686309166061552196996"}.items() <= \
        group["identifier"][0].items()

    (member,) = members(placement, group)
    assert member["meta"]["profile"] == [DICOM_SR + "imaging-measurement"]
    assert codes(member["code"]) == [(SCT, "131184002")]
    assert member["code"]["text"] == "Area of defined region"
    assert member["valueQuantity"] == {"value": 1.7, "unit": "square centimeter", "system": UCUM, "code": "cm2"}
    assert {c for i in member["interpretation"] for c in codes(i)} == {(SCT, "17621005"), (SCT, "371928007")}
    assert "referenceRange" not in member

    structure = index(placement)[group["bodyStructure"]["reference"]]
    assert member["bodyStructure"] == group["bodyStructure"]
    assert "bodySite" not in group
    assert structure["meta"]["profile"] == [DICOM_SR + "dicom-sr-finding-site"]
    (included,) = structure["includedStructure"]
    assert codes(included["structure"]) == [(SCT, "297171002")]
    assert [codes(q) for q in included["qualifier"]] == [[(SCT, "280734009")]]
    identifiers = {i["type"]["coding"][0]["code"]: i for i in structure["identifier"]}
    assert identifiers["112039"]["value"] == "Planar ROI Measurements"
    assert identifiers["112040"]["system"] == "urn:dicom:uid"
    assert identifiers["112040"]["value"] == "urn:oid:1.2.826.0.1.3680043.8.498.95005499519195632686309166061552196996"

    (selection,) = derived_selections(placement, group)
    assert selection["meta"]["profile"] == [DICOM_SR + "image-region-2d"]
    assert codes(selection["code"]) == [(DCM, "111030")]
    assert selection["seriesUid"] == CT_SERIES_UID
    (instance,) = selection["instance"]
    assert instance["uid"] == CT_IMAGE_UID
    assert instance["sopClass"] == {"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"}
    (region,) = instance["imageRegion2D"]
    assert region["regionType"] == "circle"
    assert [Decimal(str(v)) for v in region["coordinate"]] == [58, 52, 58, 41]
    assert derived_selections(placement, member) == [selection]

    assert placement.narrative[EuSection.FINDINGS] == [
        "Spinal cord (Cervico-thoracic spine, Vertebral foramen): Area of defined region 1.7 cm2"
    ]


# -- §9 item 2 ------------------------------------------------------------------------------------------------


def test_multiple_groups() -> None:
    placement, ctx = build(MULTIPLE_GROUPS)
    assert_well_formed(placement, ctx)
    found = groups(placement)
    assert len(found) == 4
    by_value = {g.get("valueCodeableConcept", {}).get("text"): g for g in found}
    values = {
        (codes(m["code"])[0], m["valueQuantity"]["value"], m["valueQuantity"]["code"])
        for g in found for m in members(placement, g) if "valueQuantity" in m
    }
    assert ((SCT, "81827009"), 10.0, "mm") in values
    assert ((SCT, "81827009"), 20.0, "mm") in values
    assert ((SCT, "118565006"), 200.0, "mm3") in values
    (histogram,) = [v for v in values if v[0][1] == "X6K6"]
    assert round(Decimal(str(histogram[1])), 11) == Decimal("-119.07385253906")
    assert histogram[2] == "[hnsf'U]"

    nodule = by_value["Nodule"]
    assert codes(nodule["code"]) == [(SCT, "49755003")]
    assert codes(nodule["valueCodeableConcept"]) == [(SCT, "27925004")]
    assert codes(nodule["bodySite"]) == [(SCT, "39607008")]
    assert "bodyStructure" not in nodule
    evaluations = [o for o in of_type(placement, "Observation")
                   if o["meta"]["profile"] == [DICOM_SR + "imaging-qualitative-evaluation"]]
    significance = [e for e in evaluations if codes(e["code"]) == [(DCM, "121403")]]
    assert len(significance) == 1
    assert codes(significance[0]["valueCodeableConcept"]) == [(SCT, "371928007")]
    assert codes(significance[0]["category"][0]) == [("http://terminology.hl7.org/CodeSystem/umls", "C0034375")]
    assert f"Observation/{significance[0]['id']}" in {m["reference"] for m in nodule["hasMember"]}
    assert not [e for e in evaluations if codes(e["code"]) == [(SCT, "276214006")]]  # Finding Category is not one

    (surface,) = derived_selections(placement, by_value["Vertebra"])[:1]
    assert surface["meta"]["profile"] == [DICOM_SR + "volume-surface"]
    assert codes(surface["code"]) == [(DCM, "121231")]
    assert surface["frameOfReferenceUid"] == "1.3.6.1.4.1.5962.1.4.1.1.20040119072730.12322"
    (aorta_region,) = derived_selections(placement, by_value["Aorta"])
    assert aorta_region["instance"][0]["imageRegion2D"][0]["regionType"] == "polyline"

    (device,) = of_type(placement, "Device")
    device_uid = "1.2.826.0.1.3680043.10.511.3.29899283304937342586225207155834162"
    assert device["identifier"][0] == {"system": "urn:dicom:uid", "value": f"urn:oid:{device_uid}"}
    assert all(o["device"] == {"reference": f"Device/{device['id']}"} for o in of_type(placement, "Observation"))
    assert ctx.report.authors[0].name.family == "Doe"
    assert "Nodule (Lung): Diameter 10.0 mm; Level of Significance: Not significant" in placement.narrative[
        EuSection.FINDINGS]


# -- §9 item 4 ------------------------------------------------------------------------------------------------


def test_dcmqi() -> None:
    placement, ctx = build(DCMQI)
    assert_well_formed(placement, ctx)
    (group,) = groups(placement)
    measured = members(placement, group)
    assert len(measured) == 22
    assert codes(group["method"]) == [(DCM, "126410")]
    assert [n["text"] for n in group["note"]] == ["Activity Session: 1", "Time Point: 1"]
    suv = [m for m in measured if codes(m["code"]) == [(DCM, "126401")]]
    assert len(suv) == 10
    assert {m["valueQuantity"]["code"] for m in suv} == {"{SUVbw}g/ml"}
    by_derivation = {}
    for m in suv:
        (component,) = m["component"]
        assert codes(component["code"]) == [(DCM, "121401")]
        by_derivation[component["valueCodeableConcept"]["text"]] = (m["valueQuantity"]["value"], m["code"]["text"])
    assert len(by_derivation) == 10
    assert by_derivation["Mean"] == (6.01529, "SUVbw (Mean)")
    assert by_derivation["Maximum"] == (10.3814, "SUVbw (Maximum)")
    assert by_derivation["Upper Adjacent Value"][0] == 10.3814

    selections = {s["meta"]["profile"][0]: s for s in derived_selections(placement, group)}
    segment = selections[DICOM_SR + "referenced-segment"]
    assert codes(segment["code"]) == [(DCM, "121191")]
    assert segment["seriesUid"] == "1.2.276.0.7230010.3.1.3.8323329.18591.1440001312.777032"
    (instance,) = segment["instance"]
    assert instance["uid"] == "1.2.276.0.7230010.3.1.4.8323329.18591.1440001312.777033"
    assert instance["subset"] == ["1"]
    assert instance["sopClass"]["code"] == "urn:oid:1.2.840.10008.5.1.4.1.1.66.4"
    rwvm = selections[DICOM_SR + "real-world-value-map"]
    assert [i["uid"] for i in rwvm["instance"]] == ["1.2.276.0.7230010.3.1.4.8323329.18215.1440001297.928457"]
    assert codes(rwvm["code"]) == [(DCM, "126100")]

    assert report_status(ctx.report) == "partial"
    assert ctx.observation_status == "preliminary"
    assert group["basedOn"][0]["identifier"]["value"] == "2076699673350889"
    assert codes(group["basedOn"][0]["identifier"]["type"])[0] == ("http://terminology.hl7.org/CodeSystem/v2-0203",
                                                                   "ACSN")
    assert of_type(placement, "Device") == []  # no device observer, no algorithm
    assert "device" not in group


# -- §9 item 3 ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("parts", [SR_DOCUMENT, MULTIPLE_GROUPS, DCMQI], ids=["sr_document", "multiple", "dcmqi"])
def test_without_templates_the_output_is_identical(parts: tuple[str, ...]) -> None:
    ds = dcmread(shared_path(*parts))
    stripped = copy.deepcopy(ds)
    stack = [stripped]
    while stack:
        item = stack.pop()
        if "ContentTemplateSequence" in item:
            del item.ContentTemplateSequence
        stack.extend(item.get("ContentSequence") or ())
    original, _ = build(parts, ds)
    again, _ = build(parts, stripped)
    assert [r.model_dump_json() for r in again.resources] == [r.model_dump_json() for r in original.resources]
    assert again.narrative == original.narrative
    assert [r.reference for r in again.results] == [r.reference for r in original.results]


# -- hand-made model values: what the staged files do not reach ---------------------------------------------


def test_derived_group_algorithm_evaluations_and_edge_values() -> None:
    path = shared_path(*SR_DOCUMENT)
    ds = dcmread(path)
    report = extract_measurement_report(ds, str(path))
    study = extract_study([extract_header(ds, str(path))])
    image = ImageReference("1.2.840.10008.5.1.4.1.1.2", CT_IMAGE_UID, CT_SERIES_UID)
    algorithm = Algorithm("Lesion Analyzer", "2.1", ("threshold=0.5",), Code(DCM, "113045", "Signal Processing"))
    left_lung = FindingSite(Code(SCT, "39607008", "Lung"), laterality=Code(SCT, "7771000", "Left"))
    multipoint = Region(RegionKind.IMAGE_REGION_2D, Code(DCM, "111030", "Image Region"), (image,), "MULTIPOINT",
                        (10.0, 11.0, 20.0, 21.0), path="1.1.1.9")
    segment = Region(RegionKind.REFERENCED_SEGMENTATION_FRAME, None,
                     (ImageReference("1.2.840.10008.5.1.4.1.1.66.4", "1.2.3.4", frames=(3, 4)),), path="1.1.1.10")
    group = MeasurementGroup(
        path="1.1.1",
        kind=GroupKind.PLANAR,
        tracking_identifier="Nodule 1",
        tracking_uid="1.2.3.5",
        finding_type=Code(SCT, "27925004", "Nodule"),
        finding_sites=(left_lung,),
        measurements=(
            Measurement("1.1.1.4", Code(SCT, "81827009", "Diameter"), Quantity("10", "mm", "mm"), regions=(multipoint,),
                        observation_uid="1.2.3.6"),
            Measurement("1.1.1.5", Code(SCT, "410668003", "Length"), Quantity("42", "1", "1")),
            Measurement("1.1.1.6", Code(SCT, "118565006", "Volume"), Quantity(None, "mm3", "mm3", "error")),
        ),
        evaluations=(QualitativeEvaluation("1.1.1.7", Code(DCM, "121106", "Comment"), text="smooth margin"),),
        regions=(segment,),
        algorithm=algorithm,
        observation_uid="1.2.3.7",
    )
    derived = MeasurementGroup(
        path="1.2",
        kind=GroupKind.IMAGE,
        measurements=(Measurement("1.2.1", Code(SCT, "118565006", "Volume"), Quantity("512", "cubic mm", None)),),
        derived=True,
    )
    report = dataclasses.replace(report, content=StructuredContent(
        groups=(group, derived),
        evaluations=(QualitativeEvaluation("1.3.1", Code(SCT, "246237000", "Character"),
                                           value=Code(SCT, "17621005", "Normal")),),
        algorithms=(algorithm,),
    ))
    placement, ctx = placement_for(report, study)
    assert_well_formed(placement, ctx)
    resources = index(placement)
    first, second = groups(placement)
    assert second["category"][1]["coding"][0]["code"] == "126011"
    (derived_member,) = members(placement, second)
    assert derived_member["meta"]["profile"] == [DICOM_SR + "derived-imaging-measurement"]
    assert {"reference": f"Observation/{first['id']}"} in derived_member["derivedFrom"]
    assert derived_member["valueQuantity"] == {"value": 512, "unit": "cubic mm"}  # not UCUM: unit text only

    device = resources[first["device"]["reference"]]
    assert device["meta"]["profile"] == [DICOM_SR + "algorithm-identification"]
    assert device["displayName"] == "Lesion Analyzer"
    assert device["version"] == [{"value": "2.1"}]
    assert device["property"][0]["valueString"] == "threshold=0.5"
    assert codes(device["type"][0]) == [(DCM, "113045")]

    observation_uid = [i for i in first["identifier"] if i["type"]["coding"][0]["code"] == "observation-uid"]
    assert observation_uid[0]["value"] == "urn:oid:1.2.3.7"
    assert observation_uid[0]["system"] == "urn:dicom:uid"
    assert observation_uid[0]["type"]["coding"][0]["system"] == \
        "http://hl7.org/fhir/uv/dicom-sr/CodeSystem/dicom-identifier-type"
    structure = resources[first["bodyStructure"]["reference"]]
    assert codes(structure["includedStructure"][0]["laterality"]) == [(SCT, "7771000")]

    diameter, length, volume, comment = members(placement, first)
    points = [s for s in derived_selections(placement, diameter) if s["code"]["coding"][0]["code"] == "111030"]
    assert [r["regionType"] for r in points[0]["instance"][0]["imageRegion2D"]] == ["point", "point"]
    source_item = [s for s in derived_selections(placement, diameter)
                   if s["meta"]["profile"] == [DICOM_SR + "source-sr-content-item"]]
    assert source_item[0]["instance"][0]["subset"] == ["1.2.3.6"]
    assert source_item[0]["instance"][0]["uid"] == report.sop_instance_uid
    frames = [s for s in derived_selections(placement, first) if s["code"]["coding"][0]["code"] == "121214"]
    assert frames[0]["instance"][0]["subset"] == ["3", "4"]
    assert "seriesUid" not in frames[0]  # not in the evidence: unknown
    assert length["valueQuantity"] == {"value": 42, "unit": "1", "system": UCUM, "code": "1"}
    assert volume["dataAbsentReason"]["coding"][0]["code"] == "error" and "valueQuantity" not in volume
    assert comment["valueCodeableConcept"] == {"text": "smooth margin"}

    (report_level,) = [r.reference for r in placement.results if r.reference not in
                       {f"Observation/{first['id']}", f"Observation/{second['id']}"}]
    evaluation = resources[report_level]
    assert evaluation["meta"]["profile"] == [FINDING_PROFILE, DICOM_SR + "imaging-qualitative-evaluation"]
    assert codes(evaluation["valueCodeableConcept"]) == [(SCT, "17621005")]
    assert len(placement.idr) == 2  # groups only
    lines = placement.narrative[EuSection.FINDINGS]
    assert lines[0] == ("Nodule (Lung, Left): Diameter 10 mm; Length 42; Volume no value (error); "
                        "Comment: smooth margin")
    assert lines[-1] == "Qualitative evaluations: Character: Normal"

    again, _ = placement_for(report, study)
    assert [r.id for r in again.resources] == [r.id for r in placement.resources]  # deterministic ids


def test_nothing_to_place() -> None:
    path = shared_path(*SR_DOCUMENT)
    ds = dcmread(path)
    report = dataclasses.replace(extract_measurement_report(ds, str(path)), content=StructuredContent())
    placement, _ = placement_for(report, extract_study([extract_header(ds, str(path))]))
    assert placement.resources == [] and placement.results == [] and placement.narrative == {}

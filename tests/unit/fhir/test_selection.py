"""SrInstanceImagingSelectionEuImaging and ImagingSelectionKeyImageEuImaging from KOS reports (guide §2.6;
sr-mapping.md §5.2, §9 item 9)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from bridge.extract.header import extract_header
from bridge.extract.study import extract_study
from bridge.fhir.content import ContentContext
from bridge.fhir.datatypes import order_reference
from bridge.fhir.ids import resource_id
from bridge.fhir.imaging_study import build_imaging_study
from bridge.fhir.patient import build_patient
from bridge.fhir.selection import key_image_placement, sr_instance_selection, sr_selection_id
from bridge.model import EuSection, KeyImageSelection, KeyObjectClass, Report, Study
from bridge.settings import FhirSettings
from bridge.validate import validate_resource
from tests.conftest import shared_path
from tests.unit.extract.test_kos import kos_dataset, study_images

SETTINGS = FhirSettings(site_timezone="Europe/Vienna")
DCM = "http://dicom.nema.org/resources/ontology/DCM"
KEY_IMAGE_PROFILE = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/ImagingSelectionKeyImageEuImaging"
SR_PROFILE = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/SrInstanceImagingSelectionEuImaging"
IDR_FINDING = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/HL7IDRFinding"


def _json(resource: Any) -> dict[str, Any]:
    return resource.model_dump(mode="json", by_alias=True, exclude_none=True)


def _context(datasets: list[Dataset]) -> tuple[ContentContext, Study]:
    """Study of ``datasets`` (the last is the KOS) and the content context of the KOS report."""
    headers = [extract_header(ds, f"file-{i}.dcm") for i, ds in enumerate(datasets)]
    study = extract_study(headers)
    report = headers[-1].report
    assert report is not None
    patient = build_patient(study.patient, study.study_instance_uid, SETTINGS)
    imaging_study = build_imaging_study(study, patient.id or "", SETTINGS)
    based_on = (order_reference(study.order, SETTINGS),) if study.order else ()
    ctx = ContentContext(report, study, patient.id or "", imaging_study.id or "", SETTINGS, "final", based_on)
    return ctx, study


def _key_image_context(**kos: Any) -> tuple[ContentContext, list[Dataset]]:
    images = study_images(2)
    ctx, _ = _context([*images, kos_dataset(images, **kos)])
    return ctx, images


def test_key_image_note_gives_two_selections_in_findings() -> None:
    ctx, images = _key_image_context(frames={1: (3, 5)})
    placement = key_image_placement(ctx)
    assert len(placement.resources) == 2
    assert placement.results == []  # not Observations: never in DiagnosticReport.result
    refs = placement.entries[EuSection.FINDINGS]
    assert [r.reference for r in refs] == [f"ImagingSelection/{r.id}" for r in placement.resources]
    assert [url for url, _ in placement.idr] == [IDR_FINDING, IDR_FINDING]
    assert placement.narrative[EuSection.FINDINGS] == [
        "Key images (Of Interest): 1 image of series 1: Two lesions worth a look",
        "Key images (Of Interest): 1 image of series 2: Two lesions worth a look",
    ]
    report = ctx.report
    for resource, img in zip(placement.resources, images, strict=True):
        data = _json(resource)
        assert data["meta"]["profile"] == [KEY_IMAGE_PROFILE]
        assert resource.id == resource_id("ImagingSelection", report.sop_instance_uid, img.SeriesInstanceUID)
        assert data["status"] == "available"
        assert data["identifier"] == [{"system": "urn:dicom:uid", "value": f"urn:oid:{report.sop_instance_uid}"}]
        assert data["code"]["coding"][0] == {"system": DCM, "code": "113000", "display": "Of Interest"}
        assert data["issued"] == "2024-01-02T12:00:00+01:00"
        assert data["basedOn"][0]["identifier"]["value"] == "A-001"
        assert data["subject"] == {"reference": f"Patient/{ctx.patient_id}"}
        assert data["derivedFrom"] == [{"reference": f"ImagingStudy/{ctx.imaging_study_id}"}]
        assert data["studyUid"] == img.StudyInstanceUID
        assert data["seriesUid"] == img.SeriesInstanceUID
        assert data["instance"][0]["uid"] == img.SOPInstanceUID
        assert data["instance"][0]["sopClass"] == {"system": "urn:ietf:rfc:3986",
                                                   "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"}
        extensions = {e["url"]: e for e in data["extension"]}
        assert extensions["http://hl7.org/fhir/StructureDefinition/artifact-title"]["valueString"] == "Of Interest"
        assert extensions["http://hl7.org/fhir/StructureDefinition/artifact-description"]["valueMarkdown"] == (
            "Two lesions worth a look")
        assert [v for v in validate_resource(data) if v.is_error] == []
    assert "subset" not in _json(placement.resources[0])["instance"][0]
    assert _json(placement.resources[1])["instance"][0]["subset"] == ["3", "5"]


def test_manifest_and_rejection_give_no_key_images_unless_forced() -> None:
    for title in (("113030", "DCM", "Manifest"), ("113001", "DCM", "Rejected for Quality Reasons")):
        ctx, _ = _key_image_context(title=title)
        assert ctx.report.content.key_object_class is not KeyObjectClass.KEY_IMAGES
        placement = key_image_placement(ctx)
        assert placement.resources == [] and placement.entries == {} and placement.idr == []
    ctx, _ = _key_image_context(image_library=True)
    assert key_image_placement(ctx).resources == []
    assert len(key_image_placement(ctx, force=True).resources) == 2


def test_selection_under_impression_and_of_another_study() -> None:
    ctx, images = _key_image_context()
    content = ctx.report.content
    moved = replace(content.key_images[0], section=EuSection.IMPRESSION.value)
    foreign = KeyImageSelection("1.2.3.4", "1.2.3.4.5", content.key_images[1].instances, None, None)
    report = replace(ctx.report, content=replace(content, key_images=(moved, foreign)))
    placement = key_image_placement(replace(ctx, report=report))
    assert [r.reference for r in placement.entries[EuSection.IMPRESSION]] == [
        f"ImagingSelection/{placement.resources[0].id}"]
    assert placement.idr[0][0].endswith("HL7IDRImpression")
    other = _json(placement.resources[1])
    assert other["derivedFrom"][0]["identifier"]["value"] == "urn:oid:1.2.3.4"
    assert other["code"] == {"text": report.title_meaning, "coding": [{"system": DCM, "code": "113000",
                                                                      "display": "Of Interest"}]}
    assert placement.narrative[EuSection.FINDINGS] == ["Key images (Of Interest): 1 image of series 1.2.3.4.5"]
    assert placement.resources[0].id != resource_id("ImagingSelection", report.sop_instance_uid,
                                                    images[0].SeriesInstanceUID)


def test_sr_instance_selection() -> None:
    ctx, _ = _key_image_context()
    report: Report = ctx.report
    selection = sr_instance_selection(report, ctx.patient_id, ctx.imaging_study_id)
    data = _json(selection)
    assert selection.id == sr_selection_id(report.sop_instance_uid)
    assert selection.id == resource_id("ImagingSelection", report.sop_instance_uid, "sr-instance")
    assert data["meta"]["profile"] == [SR_PROFILE]
    assert data["identifier"][0]["value"] == f"urn:oid:{report.sop_instance_uid}"
    assert data["identifier"][0]["type"]["coding"][0]["code"] == "00080018"
    assert data["code"]["coding"][0]["code"] == "113000"
    assert data["studyUid"] == report.study_instance_uid
    assert data["seriesUid"] == report.series_instance_uid
    assert data["instance"] == [{"uid": report.sop_instance_uid, "sopClass": {
        "system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.88.59"}}]
    assert data["derivedFrom"] == [{"reference": f"ImagingStudy/{ctx.imaging_study_id}"}]
    assert [v for v in validate_resource(data) if v.is_error] == []
    untitled = sr_instance_selection(replace(report, title=None), ctx.patient_id, ctx.imaging_study_id)
    assert _json(untitled)["code"] == {"text": report.title_meaning}


def test_real_automatic_kos_is_forced_only() -> None:
    path = shared_path("dicom", "kos", "GK17285-KOS.dcm")
    ctx, _ = _context([pydicom.dcmread(path)])
    assert key_image_placement(ctx).resources == []
    (selection,) = key_image_placement(ctx, force=True).resources
    data = _json(selection)
    assert data["instance"][0]["sopClass"]["code"] == "urn:oid:1.2.840.10008.5.1.4.1.1.4"
    assert [v for v in validate_resource(data) if v.is_error] == []

"""DoseSummary -> ObservationRadiationDoseEuImaging and DeviceEuImaging (sr-mapping.md §4.2; checklist §9 items 5-6).

(Named test_dose_observation.py, not test_dose.py: tests/unit/extract/test_dose.py already takes the module name
``test_dose`` and the test directories are not packages.)
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace

from fhir.resources.reference import Reference
from pydicom import dcmread

from bridge.extract.header import extract_header
from bridge.extract.sr.dose import extract_dose_report
from bridge.extract.study import extract_study
from bridge.fhir.content import ContentContext, Placement
from bridge.fhir.dose import dose_placement
from bridge.fhir.ids import resource_id
from bridge.fhir.report import observation_status
from bridge.fhir.selection import sr_instance_selection
from bridge.model import DeviceObserver, DoseKind, DoseSummary, EuSection, Report, StructuredContent
from bridge.settings import FhirSettings
from bridge.validate import validate_resource
from tests.conftest import shared_path

PROFILE = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/ObservationRadiationDoseEuImaging"
IDR_PROCEDURE = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/HL7IDRImagingProcedure"
SIEMENS_NARRATIVE = (
    "Projection X-ray on Siemens AXIOM-Artis (AXIS01475), 2020-12-10. Fluoroscopy time 00:18; dose area product "
    "total 0.0937 Gy.cm2 (fluoroscopy 0.0314, acquisition 0.0623); reference point air kerma total 1.36 mGy "
    "(15cm from Isocenter toward Source); 21 irradiation events. Values are scanner output metrics from the DICOM "
    "radiation dose structured report, not patient absorbed dose."
)
SIEMENS_SOP_UID = "1.2.826.0.1.3680043.8.498.43502295569308544018289424341665141315"
PATIENT_ID, IMAGING_STUDY_ID = "patient-1", "imaging-study-1"


def _context(name: str, with_selection: bool = True) -> ContentContext:
    path = shared_path("dicom", "sr", "pyskindose", name)
    ds = dcmread(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns on the anonymiser's invalid file meta UIDs (NOTICE.md)
        report = extract_dose_report(ds, str(path))
        study = extract_study([extract_header(ds, str(path))])
    selection = sr_instance_selection(report, PATIENT_ID, IMAGING_STUDY_ID) if with_selection else None
    return ContentContext(report, study, PATIENT_ID, IMAGING_STUDY_ID, FhirSettings(), observation_status(report),
                          (), selection.id if selection else None)


def _data(resource: object) -> dict:
    return json.loads(resource.model_dump_json(exclude_none=True))  # type: ignore[attr-defined]


def test_siemens_rdsr_observation() -> None:
    ctx = _context("siemens_axiom_artis.dcm")
    placement = dose_placement(ctx)
    observation, device = placement.resources
    data = _data(observation)
    assert data["resourceType"] == "Observation"
    assert data["id"] == resource_id("Observation", SIEMENS_SOP_UID, "radiation-dose")
    assert data["meta"]["profile"] == [PROFILE]
    assert data["code"]["coding"] == [{
        "system": "http://loinc.org", "code": "73569-6",
        "display": "Radiation exposure and protection information [Description] Document Diagnostic imaging"}]
    assert data["valueString"] == SIEMENS_NARRATIVE
    assert data["status"] == "preliminary"  # Completion Flag PARTIAL
    assert data["subject"] == {"reference": f"Patient/{PATIENT_ID}"}
    assert data["issued"] == "2020-12-10T06:35:06Z"  # content date/time, site zone UTC
    assert data["effectivePeriod"]["start"].startswith("2020-12-10T06:36:04")
    assert data["effectivePeriod"]["end"].startswith("2020-12-10T06:46:01")
    assert "_start" in data["effectivePeriod"]  # no Timezone Offset From UTC: uncertainPeriod (guide §2.21)
    selection_id = ctx.sr_selection_id
    assert data["derivedFrom"] == [{"reference": f"ImagingStudy/{IMAGING_STUDY_ID}"},
                                   {"reference": f"ImagingSelection/{selection_id}"}]
    assert data["device"] == {"reference": f"Device/{device.id}"}
    assert "basedOn" not in data


def test_sr_instance_selection_names_the_dataset_sop_instance_uid() -> None:
    ctx = _context("siemens_axiom_artis.dcm")
    selection = _data(sr_instance_selection(ctx.report, PATIENT_ID, IMAGING_STUDY_ID))
    assert ctx.sr_selection_id == selection["id"]
    assert selection["instance"][0]["uid"] == SIEMENS_SOP_UID  # not the file meta's Media Storage SOP Instance UID


def test_siemens_rdsr_device() -> None:
    placement = dose_placement(_context("siemens_axiom_artis.dcm"))
    data = _data(placement.resources[1])
    assert data["resourceType"] == "Device"
    assert data["meta"]["profile"] == ["http://hl7.eu/fhir/imaging-r5/StructureDefinition/DeviceEuImaging"]
    assert data["identifier"] == [{"system": "urn:dicom:uid",
                                   "value": "urn:oid:1.2.826.0.1.3680043.8.498.92539316548329046671601043549293785194"}]
    assert (data["manufacturer"], data["modelNumber"], data["serialNumber"]) == ("Siemens", "AXIOM-Artis", "146278")
    assert data["name"] == [{"value": "AXIS01475", "type": "user-friendly-name"}]
    assert data["status"] == "active"
    assert data["category"][0]["coding"][0]["code"] == "314789007"


def test_siemens_rdsr_placement() -> None:
    placement = dose_placement(_context("siemens_axiom_artis.dcm"))
    ref = f"Observation/{placement.resources[0].id}"
    assert [r.reference for r in placement.results] == [ref]
    assert [r.reference for r in placement.entries[EuSection.PROCEDURE]] == [ref]
    assert list(placement.entries) == [EuSection.PROCEDURE]
    assert [(url, r.reference) for url, r in placement.idr] == [(IDR_PROCEDURE, ref)]
    assert placement.narrative == {EuSection.PROCEDURE: [SIEMENS_NARRATIVE]}


def test_philips_rdsr_is_final_and_plane_a_only() -> None:
    ctx = _context("philips_allura_clarity_u104.dcm")
    data = _data(dose_placement(ctx).resources[0])
    assert data["status"] == "final"  # Completion Flag COMPLETE
    assert "plane A" in data["valueString"] and "plane B" not in data["valueString"]
    assert "99PHI" not in data["valueString"]


def test_based_on_and_no_selection() -> None:
    ctx = _context("siemens_axiom_artis.dcm", with_selection=False)
    order = {"type": "ServiceRequest", "identifier": {"system": "urn:x", "value": "A-1"}}
    ctx = replace(ctx, based_on=(Reference(**order),))
    data = _data(dose_placement(ctx).resources[0])
    assert data["derivedFrom"] == [{"reference": f"ImagingStudy/{IMAGING_STUDY_ID}"}]
    assert data["basedOn"] == [order]


def test_output_passes_the_dose_rules_and_serialises() -> None:
    for name in ("siemens_axiom_artis.dcm", "philips_allura_clarity_u104.dcm"):
        for resource in dose_placement(_context(name)).resources:
            resource.model_dump_json()
            problems = [v for v in validate_resource(_data(resource)) if v.is_error]
            assert problems == [], problems


def test_no_dose_or_no_narrative_gives_an_empty_placement() -> None:
    ctx = _context("siemens_axiom_artis.dcm")
    patient_dose = DoseSummary(kind=DoseKind.PATIENT, narrative="", title=None,
                               device=DeviceObserver(uid="1.2.3"))
    for content in (StructuredContent(), StructuredContent(dose=patient_dose)):
        report: Report = replace(ctx.report, content=content)
        assert dose_placement(replace(ctx, report=report)) == Placement()


def test_device_from_the_report_observers_when_the_summary_has_none() -> None:
    ctx = _context("siemens_axiom_artis.dcm")
    dose = ctx.report.content.dose
    assert dose is not None
    report = replace(ctx.report, content=StructuredContent(dose=replace(dose, device=None)),
                     device_observers=(DeviceObserver(name="Room 2", manufacturer="ACME"),))
    placement = dose_placement(replace(ctx, report=report))
    device = _data(placement.resources[1])
    assert device["name"][0]["value"] == "Room 2" and "identifier" not in device
    report = replace(report, device_observers=())
    assert len(dose_placement(replace(ctx, report=report)).resources) == 1  # no device at all: none referenced

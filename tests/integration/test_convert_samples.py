"""convert() on the bundled sample study: facts checked against the DICOM headers themselves."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread

from bridge import convert
from bridge.pipeline import StudyOutput
from bridge.validate import validate_bundle

DCM = "http://dicom.nema.org/resources/ontology/DCM"


@pytest.fixture(scope="module")
def headers(sample_dicom: Path) -> list:
    return [dcmread(p, stop_before_pixels=True) for p in sorted(sample_dicom.rglob("*.dcm"))]


@pytest.fixture(scope="module")
def study(sample_dicom: Path) -> StudyOutput:
    result = convert([sample_dicom])
    assert result.rejected == ()
    assert len(result.studies) == 1
    assert result.studies[0].findings == ()  # the samples are clean: nothing to report
    return result.studies[0]


def test_one_imaging_study_with_the_study_uid(study: StudyOutput, headers: list) -> None:
    uids = {ds.StudyInstanceUID for ds in headers}
    assert len(uids) == 1
    identifier = study.imaging_study.identifier[0]
    assert identifier.system == "urn:dicom:uid"
    assert identifier.value == f"urn:oid:{uids.pop()}"
    assert identifier.type.coding[0].system == DCM and identifier.type.coding[0].code == "110180"


def test_series_and_instance_counts_match_the_files(study: StudyOutput, headers: list) -> None:
    by_series: dict[str, set[str]] = {}
    for ds in headers:
        by_series.setdefault(ds.SeriesInstanceUID, set()).add(ds.SOPInstanceUID)
    imaging_study = study.imaging_study
    assert imaging_study.numberOfSeries == len(by_series) == 7  # 2 CT series + report, TID 1500, dose, KOS, PDF
    assert imaging_study.numberOfInstances == len(headers) == 25
    for series in imaging_study.series:
        assert {i.uid for i in series.instance} == by_series[series.uid]
        assert series.numberOfInstances == len(by_series[series.uid])


def test_series_modality_body_site_and_sop_classes(study: StudyOutput, headers: list) -> None:
    sop_class = {ds.SOPInstanceUID: ds.SOPClassUID for ds in headers}
    ct = [s for s in study.imaging_study.series if s.modality.coding[0].code == "CT"]
    assert len(ct) == 2
    for series in ct:
        assert series.modality.coding[0].system == DCM
        assert series.bodySite.concept.coding[0].system == "http://snomed.info/sct"
        assert series.bodySite.concept.coding[0].code == "816094009"  # CHEST -> Chest (PS3.16 Annex L, CID 4031)
        for instance in series.instance:
            assert instance.sopClass.code == f"urn:oid:{sop_class[instance.uid]}"
            assert instance.number is not None
    region = study.imaging_study.extension[0]
    assert region.url.endswith("AnatomicalRegionExtension")
    assert region.valueCodeableConcept.coding[0].code == "67734004"  # upper trunk


def test_series_without_timezone_carries_uncertain_period(study: StudyOutput, headers: list) -> None:
    with_tz = {ds.SeriesInstanceUID for ds in headers if "TimezoneOffsetFromUTC" in ds and ds.Modality == "CT"}
    without_tz = {ds.SeriesInstanceUID for ds in headers if "TimezoneOffsetFromUTC" not in ds}
    assert with_tz and without_tz
    for series in study.imaging_study.series:
        ext = series.started__ext
        if series.uid in with_tz:
            assert ext is None
            assert series.started.utcoffset() is not None
        elif series.uid in without_tz:
            assert ext is not None
            assert ext.extension[0].url == "http://hl7.org/fhir/StructureDefinition/uncertainPeriod"


def test_accession_is_a_based_on_identifier(study: StudyOutput, headers: list) -> None:
    accession = headers[0].AccessionNumber
    based_on = study.imaging_study.basedOn[0]
    assert based_on.type == "ServiceRequest"
    assert based_on.identifier.value == accession
    codes = {(c.system, c.code) for c in based_on.identifier.type.coding}
    assert ("http://terminology.hl7.org/CodeSystem/v2-0203", "ACSN") in codes
    issuer = headers[0].IssuerOfAccessionNumberSequence[0].UniversalEntityID
    assert based_on.identifier.system == f"urn:oid:{issuer}"


def test_patient_from_headers(study: StudyOutput, headers: list) -> None:
    ds = headers[0]
    patient = study.patient
    assert patient.identifier[0].value == ds.PatientID
    assert patient.name[0].family == ds.PatientName.family_name
    born = ds.PatientBirthDate
    assert patient.birthDate.isoformat() == f"{born[:4]}-{born[4:6]}-{born[6:]}"
    assert patient.gender == {"F": "female", "M": "male"}.get(ds.PatientSex, "other")


def test_report_bundle_is_valid_and_links_study_and_report(study: StudyOutput, headers: list) -> None:
    sr = next(ds for ds in headers if ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.22")  # the TID 2000 report
    assert len(study.reports) == 1
    bundle = study.reports[0].bundle
    data = bundle.model_dump(mode="json", by_alias=True, exclude_none=True)
    errors = [v for v in validate_bundle(data) if v.severity == "error"]
    assert errors == []
    resources = [e.resource for e in bundle.entry]
    types = [r.get_resource_type() for r in resources]
    assert types[0] == "Composition"
    composition = resources[0]
    report = next(r for r in resources if r.get_resource_type() == "DiagnosticReport")
    assert report.identifier[0].value == f"urn:oid:{sr.SOPInstanceUID}"
    assert composition.identifier[0].value == report.identifier[0].value
    assert report.composition.reference == f"Composition/{composition.id}"
    assert report.study[0].reference == f"ImagingStudy/{study.imaging_study.id}"
    assert report.status == "final"  # COMPLETE + VERIFIED
    codes = [s.code.coding[0].code for s in composition.section]
    assert codes[:4] == ["18726-0", "55115-0", "11329-0", "55111-9"]
    assert {"59776-5", "19005-8", "18783-1"} <= set(codes)
    assert all(s.text is not None and s.text.div.startswith("<div") for s in composition.section)
    assert composition.attester[0].mode.coding[0].code == "legal"


def test_report_text_comes_from_the_sr(study: StudyOutput, headers: list) -> None:
    sr = next(ds for ds in headers if ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.22")  # the TID 2000 report
    texts = _sr_texts(sr)
    entries = study.reports[0].bundle.entry
    report = next(e.resource for e in entries if e.resource.get_resource_type() == "DiagnosticReport")
    notes = "\n".join(n.text for n in report.note)
    for text in texts:
        assert text in notes
    impressions = texts_under(sr, "19005-8")
    assert impressions and all(t in report.conclusion for t in impressions)


def _sr_texts(ds) -> list[str]:  # type: ignore[no-untyped-def]
    found = []
    for item in ds.ContentSequence:
        if item.ValueType == "CONTAINER":
            found.extend(str(child.TextValue) for child in item.get("ContentSequence", []) if child.ValueType == "TEXT")
    return found


def texts_under(ds, loinc: str) -> list[str]:  # type: ignore[no-untyped-def]
    for item in ds.ContentSequence:
        if item.ValueType == "CONTAINER" and item.ConceptNameCodeSequence[0].CodeValue == loinc:
            return [str(c.TextValue) for c in item.ContentSequence if c.ValueType == "TEXT"]
    return []


def test_converting_twice_gives_identical_resources(sample_dicom: Path, study: StudyOutput) -> None:
    again = convert([sample_dicom]).studies[0]
    assert again.imaging_study.model_dump_json() == study.imaging_study.model_dump_json()
    assert again.reports[0].bundle.model_dump_json() == study.reports[0].bundle.model_dump_json()

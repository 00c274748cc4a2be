"""Report content end to end: every kind of report object of a study becomes the right place in one document.

The bundled sample study carries a TID 2000 report, a TID 1500 measurement report, a CT dose SR, a key image
note and an encapsulated PDF; third-party SRs and synthetic studies cover versions, PDF-only studies,
rejection notes and malformed content.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from bridge import convert
from bridge.extract.header import extract_header
from bridge.pipeline import StudyOutput, build_study
from bridge.settings import FhirSettings
from bridge.validate import validate_bundle
from tests import sr_factory as f
from tests.conftest import shared_path
from tests.factories import ct_dataset

DCM = "http://dicom.nema.org/resources/ontology/DCM"
IDR = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/HL7IDR"
PROFILE_DOSE = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/ObservationRadiationDoseEuImaging"
PROFILE_KEY_IMAGE = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/ImagingSelectionKeyImageEuImaging"
PROFILE_SR_INSTANCE = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/SrInstanceImagingSelectionEuImaging"
PROFILE_GROUP = "http://hl7.org/fhir/uv/dicom-sr/StructureDefinition/imaging-measurement-group"


def as_json(study: StudyOutput, index: int = 0) -> dict[str, Any]:
    return study.reports[index].bundle.model_dump(mode="json", by_alias=True, exclude_none=True)


def errors_of(bundle: dict[str, Any]) -> list[str]:
    return [str(v) for v in validate_bundle(bundle) if v.severity == "error"]


def resources(bundle: dict[str, Any], resource_type: str | None = None) -> list[dict[str, Any]]:
    found = [e["resource"] for e in bundle["entry"]]
    return [r for r in found if resource_type is None or r["resourceType"] == resource_type]


def with_profile(bundle: dict[str, Any], profile: str) -> list[dict[str, Any]]:
    return [r for r in resources(bundle) if profile in r.get("meta", {}).get("profile", [])]


def ref(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def section(bundle: dict[str, Any], code: str) -> dict[str, Any]:
    composition = resources(bundle, "Composition")[0]
    return next(s for s in composition["section"] if s["code"]["coding"][0]["code"] == code)


def entries(bundle: dict[str, Any], code: str) -> list[str]:
    return [e["reference"] for e in section(bundle, code).get("entry", []) if "reference" in e]


def idr(report: dict[str, Any], name: str) -> list[str]:
    return [e["valueReference"]["reference"] for e in report.get("extension", []) if e["url"] == IDR + name]


# -- the sample study: all five kinds of report object in one document ----------------------------------------


@pytest.fixture(scope="module")
def sample(sample_dicom: Path) -> tuple[StudyOutput, dict[str, Dataset]]:
    result = convert([sample_dicom])
    assert result.rejected == ()
    files = {p.parent.name: dcmread(p) for p in sample_dicom.rglob("*0001.dcm") if "series" not in p.parent.name}
    return result.studies[0], files


def test_the_sample_study_gives_one_valid_document_with_every_object_referenced(sample: tuple) -> None:
    study, files = sample
    assert len(study.reports) == 1
    bundle = as_json(study)
    assert errors_of(bundle) == []
    report = resources(bundle, "DiagnosticReport")[0]
    assert report["identifier"][0]["value"] == f"urn:oid:{files['report'].SOPInstanceUID}"
    sr_instances = {s["instance"][0]["uid"] for s in with_profile(bundle, PROFILE_SR_INSTANCE)}
    assert sr_instances == {files[name].SOPInstanceUID for name in ("report", "measurements", "dose", "key-images")}
    imaging_study_entries = entries(bundle, "18726-0")
    assert all(ref(s) in imaging_study_entries for s in with_profile(bundle, PROFILE_SR_INSTANCE))


def test_the_dose_summary_is_a_result_a_procedure_entry_and_an_idr_procedure(sample: tuple) -> None:
    study, files = sample
    bundle = as_json(study)
    (dose,) = with_profile(bundle, PROFILE_DOSE)
    report = resources(bundle, "DiagnosticReport")[0]
    assert dose["code"]["coding"][0]["code"] == "73569-6"
    assert "total DLP 303 mGy.cm" in dose["valueString"]  # 5.4 + 297.5 = 302.9, three significant digits
    assert "not patient absorbed dose" in dose["valueString"]
    assert {"reference": ref(dose)} in report["result"]
    assert ref(dose) in entries(bundle, "55111-9")
    assert ref(dose) in idr(report, "ImagingProcedure")
    dose_sr = next(s for s in with_profile(bundle, PROFILE_SR_INSTANCE)
                   if s["instance"][0]["uid"] == files["dose"].SOPInstanceUID)
    assert {"reference": ref(dose_sr)} in dose["derivedFrom"]


def test_measurements_are_grouped_results_in_the_findings_section(sample: tuple) -> None:
    study, _ = sample
    bundle = as_json(study)
    (group,) = with_profile(bundle, PROFILE_GROUP)
    report = resources(bundle, "DiagnosticReport")[0]
    assert {"reference": ref(group)} in report["result"]
    assert ref(group) in entries(bundle, "59776-5")
    members = {m["reference"] for m in group["hasMember"]}
    values = {(r["code"]["coding"][0]["code"], r["valueQuantity"]["value"], r["valueQuantity"]["code"])
              for r in resources(bundle, "Observation") if ref(r) in members and "valueQuantity" in r}
    assert values == {("103339001", 9, "mm"), ("118565006", 318, "mm3")}
    assert all({"reference": m} not in report["result"] for m in members)  # reached through hasMember (dgr-1)


def test_key_images_are_one_selection_per_series_in_findings(sample: tuple) -> None:
    study, files = sample
    bundle = as_json(study)
    selections = with_profile(bundle, PROFILE_KEY_IMAGE)
    kos = files["key-images"]
    evidence = {s.SeriesInstanceUID: {r.ReferencedSOPInstanceUID for r in s.ReferencedSOPSequence}
                for s in kos.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence}
    assert {s["seriesUid"]: {i["uid"] for i in s["instance"]} for s in selections} == evidence
    for selection in selections:
        assert selection["code"]["coding"][0]["code"] == "113000"
        assert ref(selection) in entries(bundle, "59776-5")
    report = resources(bundle, "DiagnosticReport")[0]
    assert {ref(s) for s in selections} <= set(idr(report, "Finding"))


def test_the_pdf_is_the_presented_form_byte_for_byte(sample: tuple) -> None:
    study, files = sample
    report = resources(as_json(study), "DiagnosticReport")[0]
    (form,) = report["presentedForm"]
    pdf = files["pdf"]
    original = bytes(pdf.EncapsulatedDocument)[: int(pdf.EncapsulatedDocumentLength)]
    assert form["contentType"] == "application/pdf"
    assert base64.b64decode(form["data"]) == original
    assert form["hash"] == base64.b64encode(hashlib.sha1(original).digest()).decode()  # noqa: S324 - FHIR's hash


def test_order_and_procedure_come_from_the_headers(sample: tuple) -> None:
    study, files = sample
    bundle = as_json(study)
    (request,) = resources(bundle, "ServiceRequest")
    assert request["identifier"][0]["value"] == files["report"].AccessionNumber
    assert entries(bundle, "55115-0") == [ref(request)]
    (procedure,) = resources(bundle, "Procedure")
    assert ref(procedure) in entries(bundle, "55111-9")


# -- third-party SRs: each one alone gives a valid document with its facts ------------------------------------


def single(path: Path | str) -> StudyOutput:
    ds = dcmread(path)
    return build_study([extract_header(ds, str(path))], FhirSettings())


@pytest.mark.parametrize("name", ["test-SR.dcm", "reportsi.dcm"])
def test_pydicom_text_reports_give_valid_documents(name: str) -> None:
    path = get_testdata_file(name)
    assert path is not None
    study = single(path)
    bundle = as_json(study)
    assert errors_of(bundle) == []
    report = resources(bundle, "DiagnosticReport")[0]
    ds = dcmread(path)
    expected = {"COMPLETE": "final", "PARTIAL": "partial"}[ds.CompletionFlag]
    if "PredecessorDocumentsSequence" in ds and expected == "final":
        expected = "amended"  # a verified report that replaces earlier documents (sr-mapping.md §0.4)
    assert (report["status"], resources(bundle, "Composition")[0]["status"]) == (expected, expected)
    narrative = " ".join(n["text"] for n in report.get("note", []))
    assert ("A mass of" in narrative) if name == "test-SR.dcm" else ("Enter text" in narrative)


@pytest.mark.parametrize("name", [
    "siemens_axiom_artis.dcm", "siemens_axiom_example_procedure.dcm",
    "philips_allura_clarity_u104.dcm", "philips_allura_clarity_u601.dcm",
])
def test_real_dose_srs_give_valid_dose_reports(name: str) -> None:
    path = shared_path("dicom", "sr", "pyskindose", name)
    study = single(path)
    bundle = as_json(study)
    assert errors_of(bundle) == []
    (dose,) = with_profile(bundle, PROFILE_DOSE)
    ds = dcmread(path)
    procedure = ds.get("StudyDescription") or "Projection X-ray"
    assert dose["valueString"].startswith(f"{procedure} on {ds.Manufacturer} ")  # sr-mapping.md §4.3
    assert "Fluoroscopy time " in dose["valueString"]
    assert "99PHI" not in dose["valueString"]
    assert {"reference": ref(dose)} in resources(bundle, "DiagnosticReport")[0]["result"]
    (sr_instance,) = with_profile(bundle, PROFILE_SR_INSTANCE)
    assert sr_instance["instance"][0]["uid"] == ds.SOPInstanceUID  # the data set's, not the file meta's


@pytest.mark.parametrize(("folder", "name", "groups"), [
    ("highdicom", "sr_document.dcm", 1),
    ("highdicom", "sr_document_with_multiple_groups.dcm", 4),
    ("dcmqi", "sr.dcm", 1),
])
def test_real_measurement_reports_give_valid_documents(folder: str, name: str, groups: int) -> None:
    study = single(shared_path("dicom", "sr", folder, name))
    bundle = as_json(study)
    assert errors_of(bundle) == []
    found = with_profile(bundle, PROFILE_GROUP)
    assert len(found) == groups
    results = {r["reference"] for r in resources(bundle, "DiagnosticReport")[0]["result"]}
    assert {ref(g) for g in found} <= results


# -- synthetic studies: versions, PDF only, rejection, malformed content --------------------------------------


def images(n: int = 2) -> list[Dataset]:
    first = ct_dataset(InstanceNumber=1)
    rest = [ct_dataset(InstanceNumber=i, StudyInstanceUID=first.StudyInstanceUID,
                       SeriesInstanceUID=first.SeriesInstanceUID) for i in range(2, n + 1)]
    return [first, *rest]


def build(datasets: list[Dataset]) -> StudyOutput:
    return build_study([extract_header(ds, f"mem:{i}") for i, ds in enumerate(datasets)], FhirSettings())


FINDINGS = ("59776-5", "LN", "Findings")
FINDING = ("121071", "DCM", "Finding")


def test_a_preliminary_then_a_final_report_give_one_current_report_version_2() -> None:
    study_images = images()
    preliminary = f.text_report(study_images, [f.heading(FINDINGS, f.text(FINDING, "draft"))],
                                verification="UNVERIFIED", content_time="100000")
    final = f.text_report(study_images, [f.heading(FINDINGS, f.text(FINDING, "signed"))], content_time="110000")
    study = build([*study_images, final, preliminary])
    assert len(study.reports) == 1
    bundle = as_json(study)
    assert errors_of(bundle) == []
    report, composition = resources(bundle, "DiagnosticReport")[0], resources(bundle, "Composition")[0]
    assert report["status"] == composition["status"] == "final"
    assert report["identifier"][0]["value"] == f"urn:oid:{preliminary.SOPInstanceUID}"  # stable across versions
    assert composition["identifier"][0]["value"] == f"urn:oid:{preliminary.SOPInstanceUID}"
    assert composition["version"] == "2"
    assert composition["relatesTo"] == [{"type": "replaces", "resourceReference": {"identifier": {
        "system": "urn:dicom:uid", "value": f"urn:oid:{preliminary.SOPInstanceUID}"}}}]
    assert bundle["identifier"]["value"] == f"urn:oid:{final.SOPInstanceUID}"  # each version its own document
    assert "signed" in report["note"][0]["text"]


def test_a_correction_of_a_final_report_is_amended() -> None:
    study_images = images()
    original = f.text_report(study_images, [f.heading(FINDINGS, f.text(FINDING, "v1"))], content_time="100000")
    correction = f.text_report(study_images, [f.heading(FINDINGS, f.text(FINDING, "v2"))], content_time="110000",
                               predecessors=[original.SOPInstanceUID])
    first = build([*study_images, original])
    second = build([*study_images, original, correction])
    assert resources(as_json(first), "DiagnosticReport")[0]["status"] == "final"
    report = resources(as_json(second), "DiagnosticReport")[0]
    assert report["status"] == "amended"
    assert report["id"] == resources(as_json(first), "DiagnosticReport")[0]["id"]  # the same resource, updated
    assert errors_of(as_json(second)) == []


def encapsulated_pdf(image: Dataset, data: bytes) -> Dataset:
    ds = f.document_dataset(image.StudyInstanceUID, "1.2.840.10008.5.1.4.1.1.104.1", "DOC")
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.DocumentTitle = "Report"
    ds.EncapsulatedDocument = data + (b"\x00" if len(data) % 2 else b"")
    ds.EncapsulatedDocumentLength = len(data)
    return ds


def test_a_pdf_only_study_gives_a_valid_minimal_metadata_collection() -> None:
    study_images = images(1)
    data = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"
    pdf = encapsulated_pdf(study_images[0], data)
    study = build([*study_images, pdf])
    bundle = as_json(study)
    assert bundle["type"] == "collection"
    assert resources(bundle, "Composition") == []
    assert errors_of(bundle) == []
    report = resources(bundle, "DiagnosticReport")[0]
    assert base64.b64decode(report["presentedForm"][0]["data"]) == data


def test_a_rejection_note_withdraws_the_instance_from_the_imaging_study() -> None:
    study_images = images(3)
    rejected = study_images[1]
    kos = f.document_dataset(rejected.StudyInstanceUID, "1.2.840.10008.5.1.4.1.1.88.59", "KO")
    kos.ValueType, kos.ContinuityOfContent = "CONTAINER", "SEPARATE"
    kos.ConceptNameCodeSequence = DicomSequence([f.code("113001", "DCM", "Rejected for Quality Reasons")])
    series = Dataset()
    series.SeriesInstanceUID = rejected.SeriesInstanceUID
    reference = Dataset()
    reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = rejected.SOPClassUID, rejected.SOPInstanceUID
    series.ReferencedSOPSequence = DicomSequence([reference])
    evidence = Dataset()
    evidence.StudyInstanceUID = rejected.StudyInstanceUID
    evidence.ReferencedSeriesSequence = DicomSequence([series])
    kos.CurrentRequestedProcedureEvidenceSequence = DicomSequence([evidence])
    kos.ContentSequence = DicomSequence([f.image(rejected.SOPInstanceUID)])
    study = build([*study_images, kos])
    listed = {i.uid for s in study.imaging_study.series or [] for i in s.instance or []}
    assert rejected.SOPInstanceUID not in listed
    assert {study_images[0].SOPInstanceUID, study_images[2].SOPInstanceUID} <= listed


def test_malformed_sr_content_is_reported_with_paths_and_the_rest_is_built(caplog: pytest.LogCaptureFixture) -> None:
    study_images = images(1)
    cyclic = Dataset()
    cyclic.RelationshipType = "INFERRED FROM"
    cyclic.ReferencedContentItemIdentifier = [1, 2]  # points at its own heading
    broken_num = f.item("NUM", ("1234", "99X", "Size"), MeasuredValueSequence=DicomSequence([Dataset()]))
    code_without_value = f.item("CODE", FINDING, ConceptCodeSequence=DicomSequence([Dataset()]))
    untyped = Dataset()
    untyped.RelationshipType = "CONTAINS"
    ds = f.text_report(study_images, [
        f.heading(("11329-0", "LN", "History"), f.text(None, "Cough.")),
        f.heading(FINDINGS, f.text(FINDING, "Readable text survives."), cyclic, broken_num, code_without_value,
                  untyped),
    ])
    with caplog.at_level("WARNING", logger="bridge.pipeline"):
        study = build([*study_images, ds])
    logged = [(r.path, r.item) for r in caplog.records if getattr(r, "event", None) == "report.content"]
    assert ("mem:1", "1.2.4") in logged  # the file and the content-item path of the CODE without a code
    bundle = as_json(study)
    assert errors_of(bundle) == []
    report = resources(bundle, "DiagnosticReport")[0]
    assert "Readable text survives." in " ".join(n["text"] for n in report["note"])
    where = {finding.where for finding in study.findings}
    assert {"1.2.2", "1.2.4", "1.2.5"} <= where  # the cycle, the CODE without a code, the item without a type
    (size,) = [o for o in resources(bundle, "Observation") if o["code"].get("text") == "Size"]
    assert size["dataAbsentReason"]["coding"][0]["code"] == "unknown"


def test_a_report_covering_two_studies_references_both_and_stays_valid() -> None:
    study_images = images(1)
    other_study = ct_dataset(InstanceNumber=1)  # a second study, not received by the bridge
    ds = f.text_report([*study_images, other_study], [f.heading(FINDINGS, f.text(FINDING, "Both studies."))])
    evidence = ds.CurrentRequestedProcedureEvidenceSequence[0]
    moved = evidence.ReferencedSeriesSequence.pop()  # the other study's series goes into its own study item
    second = Dataset()
    second.StudyInstanceUID = other_study.StudyInstanceUID
    second.ReferencedSeriesSequence = DicomSequence([moved])
    ds.CurrentRequestedProcedureEvidenceSequence.append(second)
    bundle = as_json(build([*study_images, ds]))
    assert errors_of(bundle) == []
    report = resources(bundle, "DiagnosticReport")[0]
    imaging_study = resources(bundle, "ImagingStudy")[0]
    assert report["study"][0] == {"reference": ref(imaging_study)}
    assert report["study"][1]["identifier"]["value"] == f"urn:oid:{other_study.StudyInstanceUID}"
    other_entries = [e for e in section(bundle, "18726-0")["entry"] if "identifier" in e]
    assert [e["identifier"]["value"] for e in other_entries] == [f"urn:oid:{other_study.StudyInstanceUID}"]

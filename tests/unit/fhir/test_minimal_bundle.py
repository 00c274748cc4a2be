"""Encapsulated PDF -> BundleReportMinimalMetadataEuImaging (guide §2.2, §2.4; sr-mapping.md §6, §9 item 10)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from typing import Any

import pytest
from pydicom.dataset import Dataset

from bridge.extract.header import extract_header
from bridge.extract.study import extract_study
from bridge.fhir import document as fhir_document
from bridge.fhir.document import build_minimal_bundle, hl7_instance_identifier, presented_form
from bridge.fhir.imaging_study import build_imaging_study
from bridge.fhir.participants import build_organization
from bridge.fhir.patient import build_patient
from bridge.model import EncapsulatedDocument, Report, VerificationFlag
from bridge.settings import FhirSettings
from bridge.validate import validate_bundle
from tests.factories import ct_dataset
from tests.unit.extract.test_document import PDF_BYTES, pdf_dataset

SETTINGS = FhirSettings(site_timezone="Europe/Vienna")
IG = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/"


def _bundle(datasets: list[Dataset], *, organization: bool = True, report_change: dict[str, Any] | None = None,
            ) -> tuple[dict[str, Any], Report]:
    """The minimal bundle (as JSON) of the last dataset, an encapsulated document, in the study of all."""
    headers = [extract_header(ds, f"file-{i}.dcm") for i, ds in enumerate(datasets)]
    study = extract_study(headers)
    report = headers[-1].report
    assert report is not None
    if report_change:
        report = replace(report, **report_change)
    patient = build_patient(study.patient, study.study_instance_uid, SETTINGS)
    imaging_study = build_imaging_study(study, patient.id or "", SETTINGS)
    org = build_organization("Hospital") if organization else None
    bundle = build_minimal_bundle(report, study, patient, imaging_study, org, SETTINGS)
    return bundle.model_dump(mode="json", by_alias=True, exclude_none=True), report


def _resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def _pdf_in_study() -> list[Dataset]:
    image = ct_dataset()
    return [image, pdf_dataset(study_instance_uid=image.StudyInstanceUID)]


def test_minimal_bundle_holds_the_exact_pdf() -> None:
    bundle, report = _bundle(_pdf_in_study())
    assert bundle["type"] == "collection"
    assert bundle["meta"]["profile"] == [IG + "BundleReportMinimalMetadataEuImaging"]
    assert bundle["identifier"] == {"system": "urn:dicom:uid", "value": f"urn:oid:{report.sop_instance_uid}"}
    assert bundle["timestamp"] == "2024-01-02T13:05:00+01:00"
    assert _resources(bundle, "Composition") == []
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == [
        "DiagnosticReport", "Patient", "ImagingStudy", "Organization"]
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == f"{SETTINGS.base_url}/{entry['resource']['resourceType']}/{entry['resource']['id']}"
    (dr,) = _resources(bundle, "DiagnosticReport")
    assert dr["meta"]["profile"] == [IG + "DiagnosticReportEuImagingMinimalMetadata"]
    assert "composition" not in dr
    (form,) = dr["presentedForm"]
    assert form["contentType"] == "application/pdf"
    assert base64.b64decode(form["data"]) == PDF_BYTES  # the pad byte is gone
    assert form["hash"] == base64.b64encode(hashlib.sha1(PDF_BYTES).digest()).decode()
    assert "size" not in form  # integer64: fhir.resources would write a JSON number, which R5 forbids
    assert form["title"] == "CT Chest report"
    assert form["creation"] == "2024-01-02T13:05:00+01:00"
    assert dr["status"] == "final"
    assert dr["code"] == {"coding": [{"system": "http://loinc.org", "code": "18748-4"}], "text": "CT Chest report"}
    assert {c["coding"][0]["code"] for c in dr["category"]} == {"RAD", "85430-7", "Medical-Imaging"}
    assert dr["identifier"] == [bundle["identifier"]]
    (study,) = _resources(bundle, "ImagingStudy")
    assert dr["study"] == [{"reference": f"ImagingStudy/{study['id']}"}]
    (patient,) = _resources(bundle, "Patient")
    assert dr["subject"] == {"reference": f"Patient/{patient['id']}"}
    assert dr["basedOn"][0]["identifier"]["value"] == "A-001"
    assert "reference" not in dr["basedOn"][0]
    (organization,) = _resources(bundle, "Organization")
    assert dr["performer"] == [{"reference": f"Organization/{organization['id']}"}]
    assert dr["issued"] == "2024-01-02T13:05:00+01:00"
    # the PDF is listed in the ImagingStudy as a DOC series
    assert any(s["modality"]["coding"][0]["code"] == "DOC" for s in study["series"])
    assert [v for v in validate_bundle(bundle) if v.is_error] == []


def test_pdf_alone_without_organization_and_order() -> None:
    ds = pdf_dataset(with_length=False)
    del ds.AccessionNumber
    ds.ConceptNameCodeSequence = []
    bundle, _ = _bundle([ds], organization=False)
    (dr,) = _resources(bundle, "DiagnosticReport")
    assert base64.b64decode(dr["presentedForm"][0]["data"]) == PDF_BYTES
    assert dr["code"]["coding"][0]["code"] == "18748-4"
    assert dr["code"]["text"] == "CT Chest report"
    assert "basedOn" not in dr and "performer" not in dr
    assert _resources(bundle, "Organization") == []
    assert [v for v in validate_bundle(bundle) if v.is_error] == []


def test_status_follows_flags_when_present() -> None:
    bundle, _ = _bundle(_pdf_in_study(), report_change={"verification_flag": VerificationFlag.UNVERIFIED})
    assert _resources(bundle, "DiagnosticReport")[0]["status"] == "preliminary"
    bundle, _ = _bundle(_pdf_in_study(), report_change={"preliminary_flag": "PRELIMINARY"})
    assert _resources(bundle, "DiagnosticReport")[0]["status"] == "preliminary"


def test_large_document_goes_to_a_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fhir_document, "INLINE_LIMIT", 16)
    bundle, _ = _bundle(_pdf_in_study())
    (binary,) = _resources(bundle, "Binary")
    (dr,) = _resources(bundle, "DiagnosticReport")
    form = dr["presentedForm"][0]
    assert "data" not in form
    entry = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Binary")
    assert form["url"] == entry["fullUrl"]
    assert base64.b64decode(binary["data"]) == PDF_BYTES
    assert binary["contentType"] == "application/pdf"
    assert form["hash"] == base64.b64encode(hashlib.sha1(PDF_BYTES).digest()).decode()
    assert [v for v in validate_bundle(bundle) if v.is_error] == []


def test_source_study_of_another_study_is_an_identifier_reference() -> None:
    datasets = _pdf_in_study()
    headers_report = extract_header(datasets[-1], "pdf.dcm").report
    assert headers_report is not None and headers_report.content.document is not None
    document = replace(headers_report.content.document, source_study_uids=("1.2.3.4",),
                       hl7_instance_identifier="1.2.3.4.5^DOC-77")
    bundle, _ = _bundle(datasets, report_change={"content": replace(headers_report.content, document=document)})
    (dr,) = _resources(bundle, "DiagnosticReport")
    assert dr["study"][1] == {"type": "ImagingStudy", "identifier": {
        "system": "urn:dicom:uid", "value": "urn:oid:1.2.3.4",
        "type": {"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110180",
                             "display": "Study Instance UID"}]}}}
    assert dr["identifier"][1] == {"system": "urn:oid:1.2.3.4.5", "value": "DOC-77"}
    assert [v for v in validate_bundle(bundle) if v.is_error] == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.2.3^X-1", {"system": "urn:oid:1.2.3", "value": "X-1"}),
        ("1.2.3", {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.3"}),
        ("6BA7B810-9DAD-11D1-80B4-00C04FD430C8", {"system": "urn:ietf:rfc:3986",
                                                  "value": "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8"}),
    ],
)
def test_hl7_instance_identifier(value: str, expected: dict[str, str]) -> None:
    assert hl7_instance_identifier(value).model_dump(mode="json", exclude_none=True) == expected


def test_presented_form_of_odd_bytes() -> None:
    data = bytes(range(256)) * 3 + b"\x01"
    form = presented_form(EncapsulatedDocument("application/pdf", data, title="T"), SETTINGS)
    dumped = form.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert base64.b64decode(dumped["data"]) == data
    assert dumped["hash"] == base64.b64encode(hashlib.sha1(data).digest()).decode()
    assert "creation" not in dumped and "url" not in dumped
    with_url = presented_form(EncapsulatedDocument("application/pdf", data), SETTINGS, url="http://x/Binary/1")
    assert with_url.data is None and with_url.url == "http://x/Binary/1"

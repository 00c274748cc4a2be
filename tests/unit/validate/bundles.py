"""Small conformant report Bundles built in code for the validator tests (fullUrls http://localhost/fhir/<Type>/<id>)."""

from __future__ import annotations

import copy
from typing import Any

BASE = "http://localhost/fhir"
IG = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/"
LOINC = "http://loinc.org"
DCM = "http://dicom.nema.org/resources/ontology/DCM"

ACCESSION: dict[str, Any] = {
    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"},
                        {"system": DCM, "code": "121022", "display": "Accession Number"}]},
    "system": "http://localhost/accession",
    "value": "ACC-0001",
}
CATEGORIES: list[dict[str, Any]] = [
    {"coding": [{"system": LOINC, "code": "85430-7"}]},
    {"coding": [{"system": "http://hl7.eu/fhir/eu-health-data-api/CodeSystem/eehrxf-document-priority-category-cs",
                 "code": "Medical-Imaging"}]},
    {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]},
]
REPORT_TYPE = {"coding": [{"system": LOINC, "code": "24627-2", "display": "CT Chest"}]}
REPORT_ID = {"system": "http://localhost/report-ids", "value": "R-0001"}


def div(text: str) -> dict[str, str]:
    """A generated Narrative with one paragraph."""
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{text}</p></div>'}


def loinc(code: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code}]}


def entry(resource: dict[str, Any]) -> dict[str, Any]:
    """A Bundle entry whose fullUrl is http://localhost/fhir/<Type>/<id>."""
    return {"fullUrl": f"{BASE}/{resource['resourceType']}/{resource['id']}", "resource": resource}


def composition() -> dict[str, Any]:
    return {
        "resourceType": "Composition", "id": "comp-1", "meta": {"profile": [IG + "CompositionEuImaging"]},
        "text": div("CT chest report"),
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/event-basedOn",
                       "valueReference": {"type": "ServiceRequest", "identifier": copy.deepcopy(ACCESSION)}}],
        "identifier": [dict(REPORT_ID)], "status": "final", "type": copy.deepcopy(REPORT_TYPE),
        "category": copy.deepcopy(CATEGORIES), "subject": [{"reference": "Patient/pat-1"}],
        "date": "2024-03-01T12:00:00+01:00", "author": [{"reference": "Organization/org-1"}],
        "title": "CT chest",
        "section": [
            {"title": "Imaging Study", "code": loinc("18726-0"), "text": div("CT chest, 1 series"),
             "entry": [{"reference": "ImagingStudy/study-1"}]},
            {"title": "Order", "code": loinc("55115-0"), "text": div("Accession Number: ACC-0001"),
             "entry": [{"type": "ServiceRequest", "identifier": copy.deepcopy(ACCESSION)}]},
            {"title": "History", "code": loinc("11329-0"), "text": div("Nil known"),
             "emptyReason": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                                         "code": "nilknown"}]}},
            {"title": "Procedure", "code": loinc("55111-9"), "text": div("Unavailable"),
             "emptyReason": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                                         "code": "unavailable"}]}},
            {"title": "Findings", "code": loinc("59776-5"), "text": div("No focal lesion."),
             "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/note",
                            "valueAnnotation": {"text": "No focal lesion."}}],
             "entry": [{"reference": "Observation/obs-1"}]},
        ],
    }


def diagnostic_report() -> dict[str, Any]:
    return {
        "resourceType": "DiagnosticReport", "id": "dr-1", "meta": {"profile": [IG + "DiagnosticReportEuImaging"]},
        "identifier": [dict(REPORT_ID)],
        "basedOn": [{"type": "ServiceRequest", "identifier": copy.deepcopy(ACCESSION)}],
        "status": "final", "category": copy.deepcopy(CATEGORIES), "code": copy.deepcopy(REPORT_TYPE),
        "subject": {"reference": "Patient/pat-1"}, "issued": "2024-03-01T12:00:00+01:00",
        "performer": [{"reference": "Organization/org-1"}], "study": [{"reference": "ImagingStudy/study-1"}],
        "composition": {"reference": "Composition/comp-1"}, "result": [{"reference": "Observation/obs-1"}],
    }


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient", "id": "pat-1",
        "meta": {"profile": ["http://hl7.eu/fhir/base-r5/StructureDefinition/patient-eu-core"]},
        "identifier": [{"system": "http://localhost/patients", "value": "P-001"}],
        "name": [{"family": "Doe", "given": ["Jane"]}], "birthDate": "1970-01-01",
    }


def imaging_study(instances: int = 2) -> dict[str, Any]:
    study_uid = "1.2.826.0.1.3680043.8.498.1"
    series_uid = f"{study_uid}.1"
    return {
        "resourceType": "ImagingStudy", "id": "study-1", "meta": {"profile": [IG + "ImagingStudyEuImaging"]},
        "extension": [{"url": IG + "AnatomicalRegionExtension",
                       "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "67734004"}]}}],
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{study_uid}",
                        "type": {"coding": [{"system": DCM, "code": "110180"}]}}],
        "status": "available", "modality": [{"coding": [{"system": DCM, "code": "CT"}]}],
        "subject": {"reference": "Patient/pat-1"}, "started": "2024-03-01T10:00:00+01:00",
        "basedOn": [{"identifier": copy.deepcopy(ACCESSION)}],
        "numberOfSeries": 1, "numberOfInstances": instances, "description": "CT chest",
        "series": [{
            "uid": series_uid, "number": 1, "modality": {"coding": [{"system": DCM, "code": "CT"}]},
            "description": "Axial 1 mm", "numberOfInstances": instances,
            "bodySite": {"concept": {"coding": [{"system": "http://snomed.info/sct", "code": "51185008"}]}},
            "started": "2024-03-01T10:01:00+01:00",
            "performer": [{"function": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                                    "code": "LOC"}]},
                           "actor": {"reference": "Organization/org-1"}}],
            "instance": [{"uid": f"{series_uid}.{i}", "number": i,
                          "extension": [{"url": IG + "ImagingStudyEuImagingInstanceDescription",
                                         "valueString": f"Axial image {i}"}],
                          "sopClass": {"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"}}
                         for i in range(1, instances + 1)],
        }],
    }


def observation() -> dict[str, Any]:
    """The placeholder result DiagnosticReportEuImaging.result 1..* needs (§2.4)."""
    return {"resourceType": "Observation", "id": "obs-1", "status": "final", "code": loinc("59776-5"),
            "subject": {"reference": "Patient/pat-1"}, "valueString": "."}


def organization() -> dict[str, Any]:
    return {"resourceType": "Organization", "id": "org-1",
            "meta": {"profile": ["http://hl7.eu/fhir/base-r5/StructureDefinition/organization-eu-core"]},
            "name": "Radiology Department"}


def build_document_bundle(instances: int = 2) -> dict[str, Any]:
    """A small BundleReportEuImaging that validates with no violations at all."""
    return {
        "resourceType": "Bundle", "id": "report-1", "meta": {"profile": [IG + "BundleReportEuImaging"]},
        "identifier": dict(REPORT_ID), "type": "document", "timestamp": "2024-03-01T12:00:00+01:00",
        "entry": [entry(r) for r in (composition(), diagnostic_report(), patient(), imaging_study(instances),
                                     observation(), organization())],
    }


def build_minimal_bundle() -> dict[str, Any]:
    """A small BundleReportMinimalMetadataEuImaging (collection, urn:uuid fullUrls) with no violations."""
    report = {
        "resourceType": "DiagnosticReport", "id": "dr-min",
        "meta": {"profile": [IG + "DiagnosticReportEuImagingMinimalMetadata"]},
        "identifier": [dict(REPORT_ID)], "status": "final", "category": copy.deepcopy(CATEGORIES[:2]),
        "code": copy.deepcopy(REPORT_TYPE), "subject": {"reference": "urn:uuid:2b0c6a56-0d5e-4d43-9a43-5b8a0f1e2c01"},
        "basedOn": [{"identifier": copy.deepcopy(ACCESSION)}],
        "study": [{"identifier": {"system": "urn:dicom:uid", "value": "urn:oid:1.2.826.0.1.3680043.8.498.1",
                                  "type": {"coding": [{"system": DCM, "code": "110180"}]}}}],
        "presentedForm": [{"contentType": "application/pdf", "url": "http://localhost/reports/R-0001.pdf"}],
    }
    return {
        "resourceType": "Bundle", "id": "minimal-1", "meta": {"profile": [IG + "BundleReportMinimalMetadataEuImaging"]},
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:2b0c6a56-0d5e-4d43-9a43-5b8a0f1e2c00", "resource": report},
            {"fullUrl": "urn:uuid:2b0c6a56-0d5e-4d43-9a43-5b8a0f1e2c01", "resource": patient()},
        ],
    }

"""The FHIR R5 test server (tests/fhir_server) is a real server and behaves as the bridge relies on.

Each test starts from an empty repository. Resources are minimal valid R5 resources written by hand, so a failure
here is the server's, not the bridge's.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.fhir_server import FhirServer

SYS = "urn:ietf:rfc:3986"
MRN = "urn:oid:1.2.840.99999.1"
STUDY_UID = "urn:oid:1.2.826.0.1.3680043.8.498.1"
LOINC = "http://loinc.org"


def patient(pid: str = "p1", mrn: str = "MRN-1", family: str = "Doe") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": MRN, "value": mrn}],
        "name": [{"family": family, "given": ["Jane"]}],
        "gender": "female",
        "birthDate": "1970-01-02",
    }


def imaging_study(sid: str = "s1", subject: str = "Patient/p1") -> dict[str, Any]:
    return {
        "resourceType": "ImagingStudy",
        "id": sid,
        "identifier": [{"system": SYS, "value": STUDY_UID}],
        "status": "available",
        "subject": {"reference": subject},
        "started": "2024-03-01T10:00:00Z",
        "numberOfSeries": 1,
        "numberOfInstances": 1,
    }


def composition(subject: str = "Patient/p1") -> dict[str, Any]:
    return {
        "resourceType": "Composition",
        "status": "final",
        "type": {"coding": [{"system": LOINC, "code": "18748-4", "display": "Diagnostic imaging study"}]},
        "subject": [{"reference": subject}],
        "date": "2024-03-01T12:00:00Z",
        "author": [{"display": "Radiology"}],
        "title": "CT head report",
    }


def r4_composition() -> dict[str, Any]:
    """An R4-shaped Composition: subject is a single Reference and confidentiality exists (both R4 only)."""
    resource = composition()
    resource["id"] = "c-r4"
    resource["subject"] = {"reference": "Patient/p1"}
    resource["confidentiality"] = "N"
    return resource


def put_entry(resource: dict[str, Any], full_url: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def total(server: FhirServer, resource_type: str, **params: Any) -> int:
    return server.search(resource_type, _total="accurate", **params)["total"]


@pytest.fixture
def fhir(fhir_server_clean: FhirServer) -> FhirServer:
    return fhir_server_clean


def test_put_then_get_returns_the_resource_with_a_version(fhir: FhirServer) -> None:
    response = fhir.request("PUT", "Patient/p1", json=patient())
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["location"] == f"{fhir.base}/Patient/p1/_history/1"

    stored = fhir.get("Patient/p1")
    assert stored["identifier"] == patient()["identifier"]
    assert stored["meta"]["versionId"] == "1"
    assert stored["meta"]["lastUpdated"]
    assert fhir.get(f"{fhir.root}/$health")["resources"] == 1
    assert fhir.request("GET", "Patient/nope").status_code == 404


def test_put_again_keeps_one_resource(fhir: FhirServer) -> None:
    fhir.put(patient())
    again = fhir.request("PUT", "Patient/p1", json=patient())
    assert again.status_code == 200
    assert again.json()["meta"]["versionId"] == "1"  # nothing changed: no new version
    assert total(fhir, "Patient", identifier=f"{MRN}|MRN-1") == 1

    changed = fhir.put(patient(family="Roe"))
    assert changed["meta"]["versionId"] == "2"
    assert total(fhir, "Patient", identifier=f"{MRN}|MRN-1") == 1
    history = fhir.get("Patient/p1/_history")
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]


def test_transaction_of_three_puts_stores_all(fhir: FhirServer) -> None:
    report = {
        "resourceType": "DiagnosticReport",
        "id": "r1",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "18748-4"}]},
        "subject": {"reference": "Patient/p1"},
        "study": [{"reference": "ImagingStudy/s1"}],
    }
    response = fhir.transaction([put_entry(patient()), put_entry(imaging_study()), put_entry(report)])
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "transaction-response"
    assert [e["response"]["status"] for e in bundle["entry"]] == ["201 Created"] * 3
    assert [e["response"]["location"] for e in bundle["entry"]] == [
        "Patient/p1/_history/1",
        "ImagingStudy/s1/_history/1",
        "DiagnosticReport/r1/_history/1",
    ]
    for path in ("Patient/p1", "ImagingStudy/s1", "DiagnosticReport/r1"):
        assert fhir.get(path)["meta"]["versionId"] == "1"


@pytest.mark.parametrize(
    ("bad", "expression"),
    [
        pytest.param(r4_composition(), "Composition.subject", id="r4-shaped-composition"),
        pytest.param(
            {"resourceType": "Observation", "id": "o1", "code": {"text": "x"}},
            "Observation.status",
            id="missing-required-element",
        ),
    ],
)
def test_transaction_with_an_invalid_resource_stores_nothing(
    fhir: FhirServer, bad: dict[str, Any], expression: str
) -> None:
    fhir.put(patient("p0", mrn="MRN-0"))
    response = fhir.transaction(
        [put_entry(patient()), put_entry(imaging_study()), put_entry(bad), put_entry(patient("p0", "MRN-0", "Roe"))]
    )
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert any(expression in issue.get("expression", []) for issue in outcome["issue"])
    assert any("Bundle.entry[2]" in issue.get("expression", []) for issue in outcome["issue"])
    assert fhir.request("GET", "Patient/p1").status_code == 404
    assert fhir.request("GET", "ImagingStudy/s1").status_code == 404
    assert fhir.get("Patient/p0")["meta"]["versionId"] == "1"  # the update of p0 was rolled back too
    assert fhir.get("Patient/p0")["name"][0]["family"] == "Doe"
    assert fhir.health()["resources"] == 1


def test_invalid_single_write_is_a_400_with_an_operation_outcome(fhir: FhirServer) -> None:
    response = fhir.request("PUT", "Composition/c-r4", json=r4_composition())
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert fhir.request("GET", "Composition/c-r4").status_code == 404


def test_conditional_update_by_identifier_creates_then_updates(fhir: FhirServer) -> None:
    url = f"Patient?identifier={MRN}|MRN-7"
    body = patient(mrn="MRN-7")
    del body["id"]
    created = fhir.request("PUT", url, json=body)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]

    body["name"][0]["family"] = "Roe"
    updated = fhir.request("PUT", url, json=body)
    assert updated.status_code == 200, updated.text
    assert updated.json()["id"] == pid
    assert updated.json()["meta"]["versionId"] == "2"
    bundle = fhir.search("Patient", identifier=f"{MRN}|MRN-7")
    assert bundle["total"] == 1
    assert bundle["entry"][0]["resource"]["name"][0]["family"] == "Roe"
    assert bundle["entry"][0]["fullUrl"] == f"{fhir.base}/Patient/{pid}"


def test_transaction_resolves_conditional_and_urn_references(fhir: FhirServer) -> None:
    condition = f"Patient?identifier={MRN}|MRN-9"
    pat = patient(mrn="MRN-9")
    del pat["id"]
    entries = [
        {
            "fullUrl": "urn:uuid:6f1c2a3e-0000-4000-8000-000000000001",
            "resource": imaging_study("s9", subject=condition),
            "request": {"method": "PUT", "url": "ImagingStudy/s9"},
        },
        {
            "fullUrl": "urn:uuid:6f1c2a3e-0000-4000-8000-000000000002",
            "resource": {
                "resourceType": "DiagnosticReport",
                "status": "final",
                "code": {"text": "CT head"},
                "subject": {"reference": condition},
                "study": [{"reference": "urn:uuid:6f1c2a3e-0000-4000-8000-000000000001"}],
            },
            "request": {"method": "POST", "url": "DiagnosticReport"},
        },
        {"resource": pat, "request": {"method": "PUT", "url": condition}},
    ]
    response = fhir.transaction(entries)
    assert response.status_code == 200, response.text
    pid = fhir.search("Patient", identifier=f"{MRN}|MRN-9")["entry"][0]["resource"]["id"]
    assert fhir.get("ImagingStudy/s9")["subject"]["reference"] == f"Patient/{pid}"
    report = fhir.search("DiagnosticReport", study="ImagingStudy/s9")["entry"][0]["resource"]
    assert report["subject"]["reference"] == f"Patient/{pid}"
    assert report["study"] == [{"reference": "ImagingStudy/s9"}]

    # the same transaction again: everything is found again, nothing is duplicated
    response = fhir.transaction(copy.deepcopy(entries)[:1] + copy.deepcopy(entries)[2:])
    assert response.status_code == 200, response.text
    assert total(fhir, "Patient") == 1
    assert total(fhir, "ImagingStudy") == 1

    # a conditional reference that matches nothing fails the whole transaction
    dangling = imaging_study("s10", subject=f"Patient?identifier={MRN}|nobody")
    response = fhir.transaction([put_entry(dangling)])
    assert response.status_code == 412
    assert fhir.request("GET", "ImagingStudy/s10").status_code == 404


def test_diagnostic_report_search_by_study(fhir: FhirServer) -> None:
    fhir.put(patient())
    fhir.put(imaging_study())
    fhir.put(imaging_study("s2"))
    for rid, study in (("r1", "s1"), ("r2", "s2")):
        fhir.put(
            {
                "resourceType": "DiagnosticReport",
                "id": rid,
                "status": "final",
                "code": {"text": "report"},
                "subject": {"reference": "Patient/p1"},
                "study": [{"reference": f"ImagingStudy/{study}"}],
            }
        )
    bundle = fhir.search("DiagnosticReport", study="ImagingStudy/s1")
    assert bundle["total"] == 1
    assert bundle["entry"][0]["resource"]["id"] == "r1"
    # R5 has no DocumentReference?study=: an unknown search parameter is refused, not silently ignored
    response = fhir.request("GET", "DocumentReference", params={"study": "ImagingStudy/s1"})
    assert response.status_code == 400


def test_document_reference_search_by_category_and_subject(fhir: FhirServer) -> None:
    fhir.put(patient())
    fhir.put(patient("p2", mrn="MRN-2"))

    def doc(did: str, subject: str, code: str) -> dict[str, Any]:
        return {
            "resourceType": "DocumentReference",
            "id": did,
            "status": "current",
            "category": [{"coding": [{"system": LOINC, "code": code}]}],
            "subject": {"reference": subject},
            "content": [{"attachment": {"contentType": "application/pdf", "url": f"Binary/{did}"}}],
        }

    fhir.put(doc("d1", "Patient/p1", "18748-4"))
    fhir.put(doc("d2", "Patient/p2", "18748-4"))
    fhir.put(doc("d3", "Patient/p1", "11488-4"))
    bundle = fhir.search("DocumentReference", category=f"{LOINC}|18748-4", subject="Patient/p1")
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["d1"]
    assert bundle["total"] == 1


def test_document_bundle_keeps_its_full_urls(fhir: FhirServer) -> None:
    patient_urn = "urn:uuid:0b0b0b0b-0000-4000-8000-000000000001"
    composition_urn = "urn:uuid:0b0b0b0b-0000-4000-8000-000000000002"
    document = {
        "resourceType": "Bundle",
        "id": "doc1",
        "identifier": {"system": SYS, "value": "urn:uuid:0b0b0b0b-0000-4000-8000-0000000000ff"},
        "type": "document",
        "timestamp": "2024-03-01T12:00:00Z",
        "entry": [
            {"fullUrl": composition_urn, "resource": {**composition(subject=patient_urn), "id": "c1"}},
            {"fullUrl": patient_urn, "resource": patient()},
        ],
    }
    stored = fhir.put(document)
    assert [e["fullUrl"] for e in stored["entry"]] == [composition_urn, patient_urn]
    again = fhir.get("Bundle/doc1")
    assert [e["fullUrl"] for e in again["entry"]] == [composition_urn, patient_urn]
    assert again["entry"][0]["resource"]["subject"] == [{"reference": patient_urn}]

    # carried in a transaction whose own entry has the same fullUrl: the document is still not rewritten
    document["id"] = "doc2"
    response = fhir.transaction([put_entry(patient(), full_url=patient_urn), put_entry(document)])
    assert response.status_code == 200, response.text
    carried = fhir.get("Bundle/doc2")
    assert [e["fullUrl"] for e in carried["entry"]] == [composition_urn, patient_urn]
    assert carried["entry"][0]["resource"]["subject"] == [{"reference": patient_urn}]


def test_prefer_minimal_and_headers(fhir: FhirServer) -> None:
    response = fhir.request("POST", "Patient", json=patient(), headers={"Prefer": "return=minimal"})
    assert response.status_code == 201
    assert response.content == b""
    location = response.headers["location"]
    assert location.startswith(f"{fhir.base}/Patient/") and location.endswith("/_history/1")
    new_id = location.split("/")[-3]
    assert new_id != "p1"  # the server assigns the id of a create
    read = fhir.request("GET", f"Patient/{new_id}")
    assert read.headers["etag"] == 'W/"1"'
    assert fhir.request("DELETE", f"Patient/{new_id}").status_code == 200
    assert fhir.request("GET", f"Patient/{new_id}").status_code == 410


def test_search_pages_and_search_all_follows_links(fhir: FhirServer) -> None:
    entries = [put_entry(patient(f"p{i}", mrn=f"MRN-{i}")) for i in range(25)]
    assert fhir.transaction(entries).status_code == 200
    first = fhir.search("Patient")
    assert first["total"] == 25
    assert len(first["entry"]) == 20
    assert any(link["relation"] == "next" for link in first["link"])
    assert len(fhir.search_all("Patient")) == 25


def test_batch_entries_succeed_or_fail_alone(fhir: FhirServer) -> None:
    response = fhir.transaction([put_entry(patient()), put_entry(r4_composition())], bundle_type="batch")
    assert response.status_code == 200
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert statuses[0] == "201 Created"
    assert statuses[1].startswith("400")
    assert fhir.get("Patient/p1")["id"] == "p1"

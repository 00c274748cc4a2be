"""Report, study and manifest on a real FHIR R5 server: a consumer goes report -> Study Instance UID / accession
-> manifest -> endpoints and back with plain FHIR searches (the ones the README lists), and a changed study
supersedes the previous manifest's DocumentReferences."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from bridge import Bridge
from tests.factories import sample_straggler, wait_for

SAMPLE = Path(__file__).resolve().parents[2] / "sample_dicom"
FILES = sorted(SAMPLE.rglob("*.dcm"))
FIRST = dcmread(FILES[0], stop_before_pixels=True)
STUDY_UID = str(FIRST.StudyInstanceUID)
ACCESSION = str(FIRST.AccessionNumber)
ACCESSION_SYSTEM = f"urn:oid:{FIRST.IssuerOfAccessionNumberSequence[0].UniversalEntityID}"
REPORT_TYPE = "http://loinc.org|85430-7"
MANIFEST_TYPE = "http://loinc.org|18748-4"
WADO = "https://pacs.example.org/dicomweb"
VIEWER = "https://viewer.example.org/launch?studyUID={study_uid}"
MANIFEST = {"retrieve": {"wado_rs_base_url": WADO, "retrieve_location_uid": "1.2.3.4.5.6",
                         "retrieve_ae_title": "PACS", "viewer_url_template": VIEWER},
            "patient_id_issuer_oid": "1.2.3.4.5.7", "institution_oid": "1.2.3.4.5.8"}


@pytest.fixture
def server(fhir_server: Any) -> Iterator[Any]:
    fhir_server.reset()
    yield fhir_server




def found(server: Any, resource_type: str, **params: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in server.search(resource_type, **params).get("entry", [])]


def deliver(server: Any, tmp_path: Path, files: list[Path]) -> None:
    delivery = {"fhir_servers": [{"name": "test", "base_url": server.base, "timeout": 5.0, "backoff": 0.2}],
                "poll_interval": 0.05}
    with Bridge.running(tmp_path, quiet_period=0.5, delivery=delivery, manifest=MANIFEST) as bridge:
        assert bridge.send(files) == [0] * len(files)
        bridge.wait_idle()
        store = bridge.service.store
        assert store is not None
        wait_for(lambda: all(d.state.value == "delivered" for d in store.deliveries_of(STUDY_UID))
                 and bool(store.deliveries_of(STUDY_UID)), "the delivery")


def straggler(tmp_path: Path) -> Path:
    return sample_straggler(SAMPLE, tmp_path, "2.25.123123123123123123", 77)


def test_report_to_manifest_to_endpoints_and_back_with_plain_searches(server: Any, tmp_path: Path) -> None:
    deliver(server, tmp_path, FILES)

    # 1. the report documents of the patient's study, by type
    reports = found(server, "DocumentReference", type=REPORT_TYPE)
    assert reports, "no report DocumentReference on the server"
    report = reports[0]
    bundle_id = report["content"][0]["attachment"]["url"].removeprefix("Bundle/")
    assert server.get(f"Bundle/{bundle_id}")["type"] == "document"
    assert report["category"][0]["coding"][0]["code"] == "Medical-Imaging"
    assert report["content"][0]["profile"][0]["valueCanonical"].endswith("/BundleReportEuImaging")

    # 2. its link keys: the study (reference + Study Instance UID) and the accession
    [event] = report["event"]
    study_ref = event["reference"]["reference"]
    assert event["reference"]["identifier"]["value"] == f"urn:oid:{STUDY_UID}"
    [based_on] = report["basedOn"]
    assert (based_on["identifier"]["system"], based_on["identifier"]["value"]) == (ACCESSION_SYSTEM, ACCESSION)

    # 3. the manifest's DocumentReferences, by study and by accession
    by_study = found(server, "DocumentReference", type=MANIFEST_TYPE, **{"event-reference": study_ref})
    [order] = found(server, "ServiceRequest", identifier=f"{ACCESSION_SYSTEM}|{ACCESSION}")
    assert based_on["reference"] == f"ServiceRequest/{order['id']}"
    by_accession = found(server, "DocumentReference", type=MANIFEST_TYPE,
                         **{"based-on": f"ServiceRequest/{order['id']}"})
    assert sorted(d["id"] for d in by_study) == sorted(d["id"] for d in by_accession)
    assert len(by_study) == 2  # the DICOM KOS and the FHIR form of one manifest
    kos_doc = next(d for d in by_study if d["content"][0]["attachment"]["contentType"] == "application/dicom")
    fhir_doc = next(d for d in by_study if d is not kos_doc)
    assert kos_doc["relatesTo"][0]["target"]["reference"] == f"DocumentReference/{fhir_doc['id']}"
    assert fhir_doc["relatesTo"][0]["target"]["reference"] == f"DocumentReference/{kos_doc['id']}"
    assert [d["id"] for d in found(server, "DocumentReference", **{"format-code": "urn:ihe:rad:MADO:fhir-manifest:2026",
                                                                   "event-reference": study_ref})] == [fhir_doc["id"]]

    # 4. the KOS itself, from the DocumentReference's attachment
    binary = server.get(kos_doc["content"][0]["attachment"]["url"])
    kos = dcmread(BytesIO(base64.b64decode(binary["data"])))
    assert kos.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.59"
    assert f"urn:oid:{kos.SOPInstanceUID}" == kos_doc["identifier"][0]["value"]
    assert kos.StudyInstanceUID == STUDY_UID
    evidence = kos.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
    assert {s.RetrieveURL for s in evidence} == {WADO}

    # 5. the endpoints, from the study the manifest points at
    imaging_study = server.get(kos_doc["event"][0]["reference"]["reference"])
    endpoints = {ref["reference"]: server.get(ref["reference"]) for ref in imaging_study["endpoint"]}
    addresses = {e["address"] for e in endpoints.values()}
    assert addresses == {WADO, VIEWER.format(study_uid=STUDY_UID)}
    for series in imaging_study["series"]:
        [wado] = [server.get(ref["reference"]) for ref in series["endpoint"]]
        assert wado["address"] == WADO and wado["connectionType"][0]["coding"][0]["code"] == "dicom-wado-rs"
    assert sum(len(s["instance"]) for s in imaging_study["series"]) == len(FILES)

    # 6. and back: from the manifest's study to its reports
    back = found(server, "DocumentReference", type=REPORT_TYPE,
                 **{"event-reference": kos_doc["event"][0]["reference"]["reference"]})
    assert report["id"] in {d["id"] for d in back}


def test_a_changed_study_supersedes_the_previous_manifest(server: Any, tmp_path: Path) -> None:
    deliver(server, tmp_path / "first", FILES)
    first = {d["id"] for d in found(server, "DocumentReference", type=MANIFEST_TYPE, status="current")}
    assert len(first) == 2
    deliver(server, tmp_path / "second", [*FILES, straggler(tmp_path)])
    current = found(server, "DocumentReference", type=MANIFEST_TYPE, status="current")
    superseded = found(server, "DocumentReference", type=MANIFEST_TYPE, status="superseded")
    assert {d["id"] for d in superseded} == first
    assert len(current) == 2 and not first & {d["id"] for d in current}
    kos = server.get(next(d for d in current if "dicom" in d["content"][0]["attachment"]["contentType"])
                     ["content"][0]["attachment"]["url"])
    kos_ds = dcmread(BytesIO(base64.b64decode(kos["data"])))
    uids = {r.ReferencedSOPInstanceUID for s in kos_ds.CurrentRequestedProcedureEvidenceSequence[0]
            .ReferencedSeriesSequence for r in s.ReferencedSOPSequence}
    assert "2.25.123123123123123123" in uids and len(uids) == len(FILES) + 1

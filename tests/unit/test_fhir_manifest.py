"""The bridge's FHIR (R4) MADO manifest of IHE Study B and its MHD DocumentReferences (mado.md §3-§6, producer
checklist §7 items 14-19).

Every test looks at the JSON the bridge would publish (parsed back), so it checks what a consumer receives.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference

from bridge.api import read_outcome
from bridge.fhir.ids import resource_id
from bridge.fhir.manifest import (
    build_manifest_bundle,
    document_reference_id,
    manifest_bundle_json,
    manifest_document_references,
)
from bridge.manifest.kos import kos_bytes, write_kos
from bridge.model import Code, InstanceHeader
from bridge.model.manifest import ManifestPlan, RequestedProcedure, RetrieveSite
from bridge.model.study import Issuer
from bridge.settings import FhirSettings, ManifestSettings
from tests.manifest_support import (
    CT_SERIES_UID,
    KIN_SERIES_UID,
    KIN_UID,
    SITE,
    STUDY_B_UID,
    study_b_files,
    study_case,
)

MADO_SD = "https://profiles.ihe.net/RAD/MADO/StructureDefinition/"
EXT_REGION = MADO_SD + "MadoAnatomicalRegionExtension"
EXT_KO_TITLE = MADO_SD + "MadoKeyObjectDocumentTitle"
EXT_FRAMES = MADO_SD + "MadoNumberOfFrames"
EXT_RETRIEVE_LOCATION = MADO_SD + "MadoRetrieveLocationUIDExtension"
EXT_DOCREF_MODALITY = MADO_SD + "ext-R5-DocumentReference.modality"
EXT_DOCREF_BODY_SITE = MADO_SD + "ext-R5-DocumentReference.bodySite"
EXT_CONTENT_PROFILE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-DocumentReference.content.profile"
EXT_DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
CATEGORY = "http://hl7.eu/fhir/eu-health-data-api/CodeSystem/eehrxf-document-priority-category-cs"
KOS_CLASS = "1.2.840.10008.5.1.4.1.1.88.59"
CT_ACCESSION = "8529258169397744"
KIN_ACCESSION = "9426932401715315"
WADO_BASE = "https://pacs.example.org/dicomweb"
LOCATION_UID = "1.2.3.4.5.6"
VIEWER = f"https://viewer.example.org/launch?studyUID={STUDY_B_UID}"
# CID IHE-MADO1 "High-Level Anatomic Regions and Systems" (mado.md §2.3), all SCT
MADO_REGIONS = {"63337009", "38266002", "53120007", "61685007", "67734004", "774007", "113257007", "80891009",
                "76752008", "1141981001"}
KOS_URL = "https://mhd.example.org/fhir/Binary/kos"
BUNDLE_URL = "https://mhd.example.org/fhir/Binary/fhir"
PATIENT_REF = "Patient/mhd-patient-1"
FHIR = FhirSettings(site_timezone="Europe/Paris")


# -- fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plan() -> ManifestPlan:
    made = study_case(study_b_files()).plan
    assert made is not None
    return made


@pytest.fixture(scope="module")
def bundle(plan: ManifestPlan) -> dict[str, Any]:
    return as_json(plan)


@pytest.fixture(scope="module")
def docrefs(plan: ManifestPlan) -> list[dict[str, Any]]:
    return [d.model_dump(mode="json", by_alias=True, exclude_none=True)
            for d in manifest_document_references(plan, FHIR, KOS_URL, BUNDLE_URL, PATIENT_REF)]


# -- helpers -------------------------------------------------------------------------------------------------------


def as_json(plan: ManifestPlan) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(manifest_bundle_json(build_manifest_bundle(plan, FHIR)))
    return data


def resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def one(bundle: dict[str, Any], resource_type: str) -> dict[str, Any]:
    (found,) = resources(bundle, resource_type)
    return found


def by_url(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["fullUrl"]: e["resource"] for e in bundle["entry"]}


def resolve(bundle: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    return by_url(bundle)[reference["reference"]]


def references(node: Any) -> Iterator[str]:
    """Every Reference.reference in a JSON tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def extensions(element: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [e for e in element.get("extension", ()) if e["url"] == url]


def codings(concept: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in concept.get("coding", ())}


def series_of(bundle: dict[str, Any], uid: str) -> dict[str, Any]:
    (found,) = [s for s in one(bundle, "ImagingStudy")["series"] if s["uid"] == uid]
    return found


def wado_endpoints(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in resources(bundle, "Endpoint") if e["connectionType"]["code"] == "dicom-wado-rs"]


def docref(docrefs: list[dict[str, Any]], content_type: str) -> dict[str, Any]:
    (found,) = [d for d in docrefs if d["content"][0]["attachment"]["contentType"] == content_type]
    return found


def oid_identifier(uid: str) -> dict[str, str]:
    return {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{uid}"}


def kos_dataset(plan: ManifestPlan) -> pydicom.Dataset:
    return pydicom.dcmread(BytesIO(kos_bytes(plan)))


def children(item: pydicom.Dataset) -> list[pydicom.Dataset]:
    return list(item.get("ContentSequence") or ())


def named(items: list[pydicom.Dataset], code: str) -> list[pydicom.Dataset]:
    return [i for i in items if "ConceptNameCodeSequence" in i and i.ConceptNameCodeSequence[0].CodeValue == code]


def num_value(item: pydicom.Dataset) -> int:
    return int(item.MeasuredValueSequence[0].NumericValue)


# -- the R4 models accept it ---------------------------------------------------------------------------------------


def test_the_bundle_parses_with_the_r4b_models_and_round_trips(plan: ManifestPlan, bundle: dict[str, Any]) -> None:
    parsed = Bundle.model_validate(bundle)
    assert parsed.model_dump(mode="json", by_alias=True, exclude_none=True) == bundle
    again = Bundle.model_validate_json(manifest_bundle_json(build_manifest_bundle(plan, FHIR)))
    assert manifest_bundle_json(again) == manifest_bundle_json(build_manifest_bundle(plan, FHIR))


def test_the_document_references_parse_with_the_r4b_models(docrefs: list[dict[str, Any]]) -> None:
    for data in docrefs:
        assert DocumentReference.model_validate(data).model_dump(mode="json", by_alias=True,
                                                                 exclude_none=True) == data


def test_the_same_plan_gives_byte_identical_output(plan: ManifestPlan) -> None:
    first = manifest_bundle_json(build_manifest_bundle(plan, FHIR))
    assert manifest_bundle_json(build_manifest_bundle(plan, FHIR)) == first
    twice = [[d.model_dump_json() for d in manifest_document_references(plan, FHIR, KOS_URL, BUNDLE_URL,
                                                                         PATIENT_REF)] for _ in range(2)]
    assert twice[0] == twice[1]


# -- §7 item 14: document Bundle, identifiers, references ----------------------------------------------------------


def test_item14_document_bundle_with_the_composition_first(bundle: dict[str, Any]) -> None:
    assert bundle["type"] == "document"
    assert "total" not in bundle
    assert bundle["entry"][0]["resource"]["resourceType"] == "Composition"
    assert [r["resourceType"] for r in (e["resource"] for e in bundle["entry"])].count("Composition") == 1
    assert len(bundle["entry"]) >= 4
    assert bundle["meta"]["profile"] == [MADO_SD + "MadoFhirBundle"]


def test_item14_bundle_composition_and_docref_identifiers_are_the_kos_sop_instance_uid(
        plan: ManifestPlan, bundle: dict[str, Any], docrefs: list[dict[str, Any]]) -> None:
    expected = oid_identifier(plan.sop_instance_uid)
    assert bundle["identifier"] == expected
    assert one(bundle, "Composition")["identifier"] == expected
    for data in docrefs:
        assert data["masterIdentifier"] == expected
    assert kos_dataset(plan).SOPInstanceUID == plan.sop_instance_uid  # the KOS written from the same plan


def test_item14_every_reference_resolves_to_a_full_url_in_the_bundle(bundle: dict[str, Any]) -> None:
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(urls)) == len(urls)
    assert all(re.fullmatch(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", u) for u in urls)
    found = list(references(bundle))
    assert found and all(ref in urls for ref in found)
    for entry in bundle["entry"]:  # the resource id is the fullUrl's UUID
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"


def test_item14_composition_content(plan: ManifestPlan, bundle: dict[str, Any]) -> None:
    composition = one(bundle, "Composition")
    assert composition["status"] == "final"
    assert codings(composition["type"]) == {(LOINC, "18748-4")}
    assert codings(composition["category"][0]) == {(CATEGORY, "Medical-Imaging")}
    assert resolve(bundle, composition["subject"])["resourceType"] == "Patient"
    assert [resolve(bundle, a)["resourceType"] for a in composition["author"]] == ["Device", "Organization"]
    (event,) = composition["event"]
    assert [resolve(bundle, d)["resourceType"] for d in event["detail"]] == ["ImagingStudy"]
    assert composition["title"]
    assert composition["text"]["status"] == "generated"
    div = ET.fromstring(composition["text"]["div"])
    assert div.tag == "{http://www.w3.org/1999/xhtml}div"
    assert "Series B1" in "".join(div.itertext())
    assert len(composition["section"]) == 2
    assert all(s["text"]["status"] == "generated" and s["title"] for s in composition["section"])


def test_item14_the_narrative_escapes_text(plan: ManifestPlan) -> None:
    study = replace(plan.study, study_description='<b>A & "B"</b>')
    bundle = as_json(replace(plan, study=study))
    div = one(bundle, "Composition")["text"]["div"]
    assert "<b>" not in div and "&lt;b&gt;A &amp;" in div
    assert '<b>A & "B"</b>' in "".join(ET.fromstring(div).itertext())


def test_item14_every_date_time_has_a_utc_offset(bundle: dict[str, Any]) -> None:
    study = one(bundle, "ImagingStudy")
    stamps = [bundle["timestamp"], one(bundle, "Composition")["date"], study["started"],
              *(s["started"] for s in study["series"] if "started" in s)]
    assert stamps
    assert all(re.search(r"T.*([+-]\d\d:\d\d|Z)$", s) for s in stamps)
    assert study["started"].startswith("2022-08-22T08:31:17.658") and study["started"].endswith("+02:00")
    assert series_of(bundle, CT_SERIES_UID)["started"].startswith("2022-08-22T16:47:58.337")


# -- §7 item 15: ImagingStudy identifier, counts, WADO endpoints ---------------------------------------------------


def test_item15_study_instance_uid_identifier(bundle: dict[str, Any]) -> None:
    (identifier,) = one(bundle, "ImagingStudy")["identifier"]
    assert identifier["system"] == "urn:dicom:uid"
    assert identifier["value"] == f"urn:oid:{STUDY_B_UID}"
    assert codings(identifier["type"]) == {(DCM, "110180")}


def test_item15_counts_equal_the_plan_and_the_kos(plan: ManifestPlan, bundle: dict[str, Any]) -> None:
    study = one(bundle, "ImagingStudy")
    assert study["numberOfSeries"] == 2 == len(plan.study.series)
    assert study["numberOfInstances"] == 21 == plan.study.number_of_instances
    assert series_of(bundle, CT_SERIES_UID)["numberOfInstances"] == 20
    assert series_of(bundle, KIN_SERIES_UID)["numberOfInstances"] == 1
    assert all(s["numberOfInstances"] == len(s["instance"]) for s in study["series"])
    # the KOS's NUM descriptors (131565) and (131564)
    kos = kos_dataset(plan)
    (library,) = named(children(kos), "111028")
    assert num_value(named(children(library), "131565")[0]) == study["numberOfSeries"]
    for group in named(children(library), "126200"):
        uid = named(children(group), "112002")[0].UID
        assert num_value(named(children(group), "131564")[0]) == series_of(bundle, uid)["numberOfInstances"]


def test_item15_every_series_has_a_wado_endpoint_with_the_retrieve_location_uid(bundle: dict[str, Any]) -> None:
    for series in one(bundle, "ImagingStudy")["series"]:
        targets = [resolve(bundle, r) for r in series["endpoint"]]
        wado = [e for e in targets if e["connectionType"]["code"] == "dicom-wado-rs"]
        assert wado, series["uid"]
        for endpoint in wado:
            (location,) = extensions(endpoint, EXT_RETRIEVE_LOCATION)
            assert location["valueString"] == LOCATION_UID


def test_wado_endpoint_comes_from_the_site_configuration(bundle: dict[str, Any]) -> None:
    (endpoint,) = wado_endpoints(bundle)  # both series share one retrieve site: one Endpoint
    assert endpoint["status"] == "active"
    assert endpoint["address"] == WADO_BASE
    assert "_address" not in endpoint
    assert endpoint["connectionType"]["system"] == "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
    (payload,) = endpoint["payloadType"]
    assert codings(payload) == {("http://terminology.hl7.org/CodeSystem/endpoint-payload-type", "none")}
    assert payload["text"] == "DICOM WADO-RS"
    assert endpoint["meta"]["profile"] == [MADO_SD + "MadoWadoEndpoint"]


def test_distinct_retrieve_sites_get_distinct_endpoints(plan: ManifestPlan) -> None:
    other = RetrieveSite("https://archive.example.org/rs", None, "1.2.3.4.5.7")
    bundle = as_json(replace(plan, retrieve={**plan.retrieve, KIN_SERIES_UID: other}))
    assert len(wado_endpoints(bundle)) == 2
    kin = resolve(bundle, series_of(bundle, KIN_SERIES_UID)["endpoint"][0])
    assert kin["address"] == "https://archive.example.org/rs"
    assert extensions(kin, EXT_RETRIEVE_LOCATION)[0]["valueString"] == "1.2.3.4.5.7"


def test_without_retrieve_configuration_the_address_is_not_specified_with_data_absent_reason() -> None:
    bare = ManifestSettings(institution_name="Example Hospital")
    made = study_case(study_b_files(), bare).plan
    assert made is not None and all(site.empty for site in made.retrieve.values())
    bundle = as_json(made)
    (endpoint,) = wado_endpoints(bundle)
    assert endpoint["address"] == "http://notspecified"
    (absent,) = endpoint["_address"]["extension"]
    assert absent == {"url": EXT_DATA_ABSENT, "valueCode": "unknown"}
    # every series still points at a WADO Endpoint; no viewer without a template
    assert all(s["endpoint"] for s in one(bundle, "ImagingStudy")["series"])
    assert all(e["connectionType"]["code"] != "web-viewer" for e in resources(bundle, "Endpoint"))
    assert "endpoint" not in one(bundle, "ImagingStudy")
    Bundle.model_validate(bundle)


def test_viewer_endpoint_is_the_display_uri(bundle: dict[str, Any]) -> None:
    study = one(bundle, "ImagingStudy")
    (viewer,) = [resolve(bundle, r) for r in study["endpoint"]]
    assert viewer["address"] == VIEWER
    assert (viewer["connectionType"]["system"], viewer["connectionType"]["code"]) == (
        "https://profiles.ihe.net/RAD/MADO/CodeSystem/MadoEndpointConnectionTypes", "web-viewer")
    assert viewer["payloadMimeType"] == ["text/html"]
    assert codings(viewer["payloadType"][0]) == {("http://terminology.hl7.org/CodeSystem/endpoint-payload-type",
                                                  "none")}


# -- §7 item 16: KOS instances, procedureCode, anatomical region ---------------------------------------------------


def test_item16_key_image_note_instance_carries_its_title_and_description(bundle: dict[str, Any]) -> None:
    (kin,) = series_of(bundle, KIN_SERIES_UID)["instance"]
    assert kin["uid"] == KIN_UID
    assert kin["sopClass"] == {"system": "urn:ietf:rfc:3986", "code": f"urn:oid:{KOS_CLASS}"}
    assert kin["title"] == "Significant DICOM Instances"
    (title,) = extensions(kin, EXT_KO_TITLE)
    assert codings(title["valueCodeableConcept"]) == {(DCM, "113000")}
    # images have neither
    for image in series_of(bundle, CT_SERIES_UID)["instance"]:
        assert "title" not in image and not extensions(image, EXT_KO_TITLE)


def test_item16_procedure_code_has_text_or_display(plan: ManifestPlan, bundle: dict[str, Any]) -> None:
    (procedure,) = one(bundle, "ImagingStudy")["procedureCode"]
    assert procedure.get("text") or any(c.get("display") for c in procedure.get("coding", ()))
    # codes without display get the description as text (mado-reqproc-1)
    coded = as_json(replace(plan, procedure_codes=(Code("http://loinc.org", "24725-4"),)))
    (procedure,) = one(coded, "ImagingStudy")["procedureCode"]
    assert codings(procedure) == {(LOINC, "24725-4")} and procedure["text"]
    bare = replace(plan, procedure_codes=(Code(LOINC, "24725-4"),), requests=(),
                   study=replace(plan.study, study_description=None))
    (procedure,) = one(as_json(bare), "ImagingStudy")["procedureCode"]
    assert procedure["text"] == "24725-4"


def test_item16_anatomical_region_from_the_value_set(bundle: dict[str, Any]) -> None:
    regions = extensions(one(bundle, "ImagingStudy"), EXT_REGION)
    assert regions
    for region in regions:
        assert {code for system, code in codings(region["valueCodeableConcept"]) if system == SCT} <= MADO_REGIONS
    assert {(SCT, "774007")} <= set().union(*(codings(r["valueCodeableConcept"]) for r in regions))


def test_item16_multi_frame_instances_carry_number_of_frames(plan: ManifestPlan) -> None:
    ct = next(s for s in plan.study.series if s.series_instance_uid == CT_SERIES_UID)
    first = replace(ct.instances[0], number_of_frames=12)
    study = replace(plan.study, series=tuple(
        replace(s, instances=(first, *s.instances[1:])) if s is ct else s for s in plan.study.series))
    bundle = as_json(replace(plan, study=study))
    by_uid = {i["uid"]: i for i in series_of(bundle, CT_SERIES_UID)["instance"]}
    assert extensions(by_uid[first.sop_instance_uid], EXT_FRAMES) == [{"url": EXT_FRAMES, "valueInteger": 12}]
    assert sum(bool(extensions(i, EXT_FRAMES)) for i in by_uid.values()) == 1


def test_series_descriptors(bundle: dict[str, Any]) -> None:
    ct = series_of(bundle, CT_SERIES_UID)
    assert ct["number"] == 1 and ct["description"] == "Series B1"
    assert (ct["modality"]["system"], ct["modality"]["code"]) == (DCM, "CT")
    assert (ct["bodySite"]["system"], ct["bodySite"]["code"]) == (SCT, "69536005")
    assert [i["number"] for i in ct["instance"]] == list(range(1, 21))
    assert all(i["sopClass"]["code"] == "urn:oid:1.2.840.10008.5.1.4.1.1.2" for i in ct["instance"])
    assert series_of(bundle, KIN_SERIES_UID)["number"] == 59
    study = one(bundle, "ImagingStudy")
    assert {(m["system"], m["code"]) for m in study["modality"]} == {(DCM, "CT"), (DCM, "KO")}


# -- accessions, patient, creator ----------------------------------------------------------------------------------


def test_one_accession_in_based_on_and_every_request_as_a_service_request(bundle: dict[str, Any]) -> None:
    study = one(bundle, "ImagingStudy")
    (based_on,) = study["basedOn"]
    assert based_on["identifier"]["value"] == CT_ACCESSION
    assert codings(based_on["identifier"]["type"]) == {(V2_0203, "ACSN"), (DCM, "121022")}
    target = resolve(bundle, based_on)
    assert target["resourceType"] == "ServiceRequest"
    assert based_on["identifier"] in target["identifier"]
    requests = resources(bundle, "ServiceRequest")
    assert [r["identifier"][0]["value"] for r in requests] == [CT_ACCESSION, KIN_ACCESSION]
    for request in requests:
        assert request["status"] == "completed" and request["intent"] == "order"
        assert resolve(bundle, request["subject"])["resourceType"] == "Patient"
        assert codings(request["identifier"][0]["type"]) == {(V2_0203, "ACSN"), (DCM, "121022")}
        assert request["identifier"][0]["system"] == FHIR.accession_system_or_default  # Study B has no issuers
        assert request["meta"]["profile"] == [MADO_SD + "MadoRequestedProcedure"]


def test_issuers_give_oid_systems_and_the_placer_identifier(plan: ManifestPlan) -> None:
    request = RequestedProcedure(CT_ACCESSION, Issuer(universal_id="1.3.6.1.4.1.19376.1.1.100.2",
                                                      universal_id_type="ISO"),
                                 "3712777189356881", Issuer(universal_id="1.3.6.1.4.1.19376.1.1.100.3",
                                                            universal_id_type="ISO"),
                                 "CT head", (Code(LOINC, "24725-4", "CT Head"),))
    made = replace(plan, requests=(request,), patient_issuer_oid="1.3.6.1.4.1.19376.1.1.100.1")
    bundle = as_json(made)
    (service_request,) = resources(bundle, "ServiceRequest")
    accession, placer = service_request["identifier"]
    assert (accession["system"], accession["value"]) == ("urn:oid:1.3.6.1.4.1.19376.1.1.100.2", CT_ACCESSION)
    assert (placer["system"], placer["value"]) == ("urn:oid:1.3.6.1.4.1.19376.1.1.100.3", "3712777189356881")
    assert codings(placer["type"]) == {(V2_0203, "PLAC")}
    assert service_request["code"] == {"coding": [{"system": LOINC, "code": "24725-4", "display": "CT Head"}],
                                       "text": "CT head"}
    assert one(bundle, "ImagingStudy")["basedOn"][0]["identifier"] == accession
    (identifier,) = one(bundle, "Patient")["identifier"]
    assert identifier == {"system": "urn:oid:1.3.6.1.4.1.19376.1.1.100.1", "value": "UV59569735"}
    (doc,) = [d.model_dump(mode="json", by_alias=True, exclude_none=True)
              for d in manifest_document_references(made, FHIR, None, BUNDLE_URL, PATIENT_REF)]
    assert doc["context"]["related"][1]["identifier"] == accession


def test_patient(bundle: dict[str, Any]) -> None:
    patient = one(bundle, "Patient")
    assert patient["identifier"][0]["value"] == "UV59569735"
    assert patient["name"][0]["family"] == "DOE" and patient["name"][0]["given"] == ["John"]
    assert patient["gender"] == "male" and patient["birthDate"] == "1977-05-30"


def test_creator_device_and_organization(plan: ManifestPlan, bundle: dict[str, Any]) -> None:
    device = one(bundle, "Device")
    assert codings(device["type"]) == {("https://profiles.ihe.net/RAD/MADO/CodeSystem/MadoDeviceType",
                                        "mado-creator")}
    assert device["manufacturer"] == plan.creator.manufacturer
    organization = resolve(bundle, device["owner"])
    assert organization["resourceType"] == "Organization"
    assert organization["name"] == "Example Hospital"
    assert organization["identifier"] == [oid_identifier("1.2.3.4.5.99")]


# -- §7 item 17: the DocumentReferences ----------------------------------------------------------------------------


def test_item17_both_document_references(plan: ManifestPlan, docrefs: list[dict[str, Any]]) -> None:
    assert len(docrefs) == 2
    for doc in docrefs:
        assert doc["status"] == "current"
        assert doc["masterIdentifier"] in doc["identifier"]  # mado-docref-1
        assert codings(doc["type"]) == {(LOINC, "18748-4")}
        assert doc["type"]["coding"][0]["display"] == "Diagnostic imaging study"
        assert codings(doc["category"][0]) == {(CATEGORY, "Medical-Imaging")}
        assert {tuple(codings(e["valueCodeableConcept"]))[0] for e in extensions(doc, EXT_DOCREF_MODALITY)} == {
            (DCM, "CT"), (DCM, "KO")}
        assert {tuple(codings(e["valueCodeableConcept"]))[0] for e in extensions(doc, EXT_DOCREF_BODY_SITE)} == {
            (SCT, "774007")}
        assert doc["subject"] == {"reference": PATIENT_REF}
        assert doc["date"]
        context = doc["context"]
        assert context["period"]["start"].startswith("2022-08-22T08:31:17.658")
        assert context["period"]["start"].endswith("+02:00")
        assert codings(context["facilityType"]) == {(SCT, "22232009")}
        assert codings(context["practiceSetting"]) == {(SCT, "394914008")}
        study_related, accession_related = context["related"]
        assert study_related["type"] == "ImagingStudy"
        assert study_related["identifier"]["system"] == "urn:dicom:uid"
        assert study_related["identifier"]["value"] == f"urn:oid:{STUDY_B_UID}"
        assert codings(study_related["identifier"]["type"]) == {(DCM, "110180")}
        assert accession_related["type"] == "ServiceRequest"
        assert accession_related["identifier"]["value"] == CT_ACCESSION
        assert codings(accession_related["identifier"]["type"]) == {(V2_0203, "ACSN"), (DCM, "121022")}
        (content,) = doc["content"]
        assert content["attachment"]["language"] == plan.language
        assert content["attachment"]["creation"] == doc["date"]


def test_item17_kos_document_reference(plan: ManifestPlan, docrefs: list[dict[str, Any]]) -> None:
    doc = docref(docrefs, "application/dicom")
    assert doc["id"] == document_reference_id(plan, "kos") == resource_id("DocumentReference",
                                                                            plan.sop_instance_uid, "kos")
    assert doc["meta"]["profile"] == [MADO_SD + "MadoDicomKosDocumentReference"]
    (content,) = doc["content"]
    assert content["attachment"]["url"] == KOS_URL
    assert content["format"] == {"system": "http://dicom.nema.org/resources/ontology/DCMUID", "code": KOS_CLASS,
                                 "display": "Key Object Selection Document"}
    assert "extension" not in content
    assert doc["relatesTo"] == [{"code": "transforms",
                                 "target": {"reference": f"DocumentReference/{document_reference_id(plan, 'fhir')}"}}]


def test_item17_fhir_document_reference(plan: ManifestPlan, docrefs: list[dict[str, Any]]) -> None:
    doc = docref(docrefs, "application/fhir+json")
    assert doc["id"] == document_reference_id(plan, "fhir")
    assert doc["meta"]["profile"] == [MADO_SD + "MadoFhirDocumentReference"]
    (content,) = doc["content"]
    assert content["attachment"]["url"] == BUNDLE_URL
    assert (content["format"]["system"], content["format"]["code"]) == (
        "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode", "urn:ihe:rad:MADO:fhir-manifest:2026")
    assert content["extension"] == [{"url": EXT_CONTENT_PROFILE, "extension": [
        {"url": "value", "valueCanonical": MADO_SD + "MadoFhirBundle"}]}]
    assert doc["relatesTo"] == [{"code": "transforms",
                                 "target": {"reference": f"DocumentReference/{document_reference_id(plan, 'kos')}"}}]


def test_item17_one_form_only_has_no_relates_to(plan: ManifestPlan) -> None:
    (kos,) = manifest_document_references(plan, FHIR, KOS_URL, None, PATIENT_REF)
    assert kos.relatesTo is None and kos.content[0].attachment.contentType == "application/dicom"
    (fhir,) = manifest_document_references(plan, FHIR, None, BUNDLE_URL, PATIENT_REF)
    assert fhir.relatesTo is None and fhir.content[0].attachment.contentType == "application/fhir+json"
    assert manifest_document_references(plan, FHIR, None, None, PATIENT_REF) == ()
    with pytest.raises(ValueError):
        document_reference_id(plan, "pdf")


# -- §7 item 18: KOS and FHIR say the same (the plan is their common source) ---------------------------------------


def test_item18_kos_evidence_equals_the_bundle(plan: ManifestPlan, bundle: dict[str, Any]) -> None:
    kos = kos_dataset(plan)
    study = one(bundle, "ImagingStudy")
    (evidence,) = kos.CurrentRequestedProcedureEvidenceSequence
    assert study["identifier"][0]["value"] == f"urn:oid:{evidence.StudyInstanceUID}"
    assert [s.SeriesInstanceUID for s in evidence.ReferencedSeriesSequence] == [s["uid"] for s in study["series"]]
    assert len(evidence.ReferencedSeriesSequence) == study["numberOfSeries"]
    for item in evidence.ReferencedSeriesSequence:
        series = series_of(bundle, item.SeriesInstanceUID)
        assert [(r.ReferencedSOPClassUID, r.ReferencedSOPInstanceUID) for r in item.ReferencedSOPSequence] == [
            (i["sopClass"]["code"].removeprefix("urn:oid:"), i["uid"]) for i in series["instance"]]
        assert len(item.ReferencedSOPSequence) == series["numberOfInstances"]
        (endpoint,) = [resolve(bundle, r) for r in series["endpoint"]]
        assert endpoint["address"] == item.RetrieveURL
        assert extensions(endpoint, EXT_RETRIEVE_LOCATION)[0]["valueString"] == item.RetrieveLocationUID
    assert sum(len(s.ReferencedSOPSequence) for s in evidence.ReferencedSeriesSequence) == study["numberOfInstances"]
    viewer = resolve(bundle, study["endpoint"][0])
    assert viewer["address"] == evidence.DisplayURI == kos.DisplayURI


def test_item18_the_kos_read_back_describes_what_the_bundle_says(
        plan: ManifestPlan, bundle: dict[str, Any], tmp_path: Path) -> None:
    """KOS → the bridge's MADO reader → the same UIDs, counts, codes and endpoints as the FHIR form."""
    header = read_outcome(write_kos(plan, tmp_path / "manifest.dcm"))
    assert isinstance(header, InstanceHeader) and header.report is not None
    manifest = header.report.content.manifest
    assert manifest is not None and manifest.mado
    study = one(bundle, "ImagingStudy")
    assert manifest.sop_instance_uid == plan.sop_instance_uid
    assert bundle["identifier"]["value"] == f"urn:oid:{manifest.sop_instance_uid}"
    assert f"urn:oid:{manifest.study_instance_uid}" == study["identifier"][0]["value"]
    assert manifest.series_count == study["numberOfSeries"]
    assert set(manifest.modalities) == {m["code"] for m in study["modality"]}
    assert {(r.system, r.code) for r in manifest.target_regions} == set().union(
        *(codings(e["valueCodeableConcept"]) for e in extensions(study, EXT_REGION)))
    assert manifest.display_uri == resolve(bundle, study["endpoint"][0])["address"]
    for described in manifest.series:
        series = series_of(bundle, described.series_instance_uid)
        assert described.instance_count == series["numberOfInstances"]
        assert described.number == str(series["number"])
        assert described.modality == series["modality"]["code"]
        assert described.description == series.get("description")
        endpoint = resolve(bundle, series["endpoint"][0])
        assert described.retrieve.wado_rs_base_url == endpoint["address"]
        assert described.retrieve.retrieve_location_uid == extensions(endpoint, EXT_RETRIEVE_LOCATION)[0][
            "valueString"]
        entries = {e.sop_instance_uid: e for e in described.entries}
        assert set(entries) == {i["uid"] for i in series["instance"]}
        for instance in series["instance"]:
            entry = entries[instance["uid"]]
            assert entry.sop_class_uid == instance["sopClass"]["code"].removeprefix("urn:oid:")
            assert entry.instance_number == str(instance["number"])
            assert entry.description == instance.get("title")
            titles = extensions(instance, EXT_KO_TITLE)
            if entry.document_title is None:
                assert not titles
            else:
                assert codings(titles[0]["valueCodeableConcept"]) == {
                    (entry.document_title.system, entry.document_title.code)}


# -- §7 item 19: a changed study gives a new manifest --------------------------------------------------------------


def test_item19_a_changed_study_gives_a_new_bundle_identifier(plan: ManifestPlan, bundle: dict[str, Any]) -> None:
    fewer = study_case(study_b_files()[1:], SITE).plan
    assert fewer is not None
    changed = as_json(fewer)
    assert changed["identifier"] != bundle["identifier"]
    assert changed["identifier"]["value"] == f"urn:oid:{fewer.sop_instance_uid}"
    assert one(changed, "ImagingStudy")["numberOfInstances"] == 20
    assert document_reference_id(fewer, "fhir") != document_reference_id(plan, "fhir")
    assert {e["fullUrl"] for e in changed["entry"]}.isdisjoint({e["fullUrl"] for e in bundle["entry"]})

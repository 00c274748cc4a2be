"""ServiceRequestOrderEuImaging, ProcedureEuImaging, DeviceEuImaging and their placement, from model values."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fhir.resources.resource import Resource

from bridge.fhir.constants import EXT_IDR_IMAGING_PROCEDURE
from bridge.fhir.content import Placement
from bridge.fhir.ids import resource_id
from bridge.fhir.order import (
    build_procedure,
    build_service_request,
    header_placement,
    service_request_id,
)
from bridge.fhir.participants import build_device, device_id
from bridge.model import (
    Code,
    DicomDateTime,
    Equipment,
    EuSection,
    Instance,
    Issuer,
    ObjectKind,
    Order,
    Patient,
    PerformedProcedure,
    PersonName,
    Series,
    Study,
)
from bridge.settings import FhirSettings

SETTINGS = FhirSettings(site_timezone="Europe/Warsaw")
SR_PROFILE = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/ServiceRequestOrderEuImaging"
PROC_PROFILE = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/ProcedureEuImaging"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UNCERTAIN = "http://hl7.org/fhir/StructureDefinition/uncertainPeriod"
CT_CHEST = Code(LOINC, "24627-2", "CT Chest")
HOUSE = PersonName(family="House", given=("Greg",), text="Greg House")
DOC = PersonName(family="Doc", given=("Bob",), text="Bob Doc")
OPERATOR = PersonName(family="Op", given=("Anna",), text="Anna Op")
SCANNER = Equipment(manufacturer="ACME", model_name="Scan 9", station_name="CT1", institution_name="General Hospital")
WORKSTATION = Equipment(manufacturer="ReportSoft", model_name="RS", institution_name="General Hospital")
ORDER = Order(
    "A123",
    Issuer(universal_id="1.2.3.100", universal_id_type="ISO"),
    requested_procedure_id="RP1",
    requested_procedure_description="CT chest with contrast",
    requested_procedure_codes=(CT_CHEST,),
    reason_codes=(Code(SNOMED, "49727002", "Cough"),),
    reason_text="Persistent cough",
    requesting_physician=HOUSE,
)
PERFORMED = PerformedProcedure(
    step_id="PPS1",
    started=DicomDateTime("2024-03-15T10:15:30", "+01:00"),
    description="CT THORAX",
    protocol_codes=(Code("urn:dicom-bridge:private-scheme:99ACME", "P-1", "Thorax routine"),),
    performing_physicians=(DOC,),
    operators=(OPERATOR,),
)


def _series(uid: str, modality: str, kind: ObjectKind, equipment: Equipment, number: int) -> Series:
    instance = Instance(uid + ".1", "1.2.840.10008.5.1.4.1.1.2", 1, kind)
    return Series(uid, modality, number, None, None, None, None, None, equipment, (instance,))


def _study(**changes: Any) -> Study:
    study = Study(
        study_instance_uid="1.2.3",
        study_id="S1",
        study_description="CT CHEST",
        started=DicomDateTime("2024-03-15T10:00:00", "+01:00"),
        referring_physician=None,
        patient=Patient("P1", None, None, "1970-01-01", "F"),
        order=ORDER,
        series=(
            _series("1.2.3.1", "CT", ObjectKind.IMAGE, SCANNER, 1),
            _series("1.2.3.2", "SR", ObjectKind.SR_TEXT_REPORT, WORKSTATION, 2),
        ),
        performed_procedure=PERFORMED,
    )
    return replace(study, **changes)


def _json(resource: Resource | None) -> dict[str, Any]:
    assert resource is not None
    return resource.model_dump(mode="json", by_alias=True, exclude_none=True)  # type: ignore[no-any-return]


def _codes(concept: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in concept.get("coding", [])]


# ServiceRequestOrderEuImaging


def test_service_request_facts() -> None:
    data = _json(build_service_request(_study(), "pat", SETTINGS))
    assert data["meta"]["profile"] == [SR_PROFILE]
    assert data["id"] == service_request_id(ORDER, SETTINGS)
    accession = data["identifier"][0]
    assert accession["system"] == "urn:oid:1.2.3.100" and accession["value"] == "A123"
    assert ("http://terminology.hl7.org/CodeSystem/v2-0203", "ACSN") in _codes(accession["type"])
    assert ("http://dicom.nema.org/resources/ontology/DCM", "121022") in _codes(accession["type"])
    assert data["identifier"][1] == {"type": {"text": "Requested Procedure ID"}, "value": "RP1"}
    assert data["status"] == "completed"  # the study holds images
    assert data["intent"] == "order"
    assert _codes(data["category"][0]) == [(SNOMED, "363679005")]
    assert _codes(data["code"]["concept"]) == [(LOINC, "24627-2")]
    assert data["code"]["concept"]["text"] == "CT chest with contrast"
    assert _codes(data["reason"][0]["concept"]) == [(SNOMED, "49727002")]
    assert data["reason"][0]["concept"]["text"] == "Persistent cough"
    assert data["subject"] == {"reference": "Patient/pat"}
    assert data["requester"]["reference"].startswith("Practitioner/")


def test_service_request_id_follows_accession_and_issuer() -> None:
    other_issuer = replace(ORDER, issuer=Issuer(universal_id="1.2.3.200", universal_id_type="ISO"))
    assert service_request_id(ORDER, SETTINGS) != service_request_id(other_issuer, SETTINGS)
    assert service_request_id(ORDER, SETTINGS) == service_request_id(replace(ORDER, reason_text=None), SETTINGS)


def test_service_request_without_order_is_none() -> None:
    assert build_service_request(_study(order=None), "pat", SETTINGS) is None


def test_bare_accession_leaves_code_reason_and_requester_out() -> None:
    study = _study(order=Order("A9"), series=(_series("1.2.3.2", "SR", ObjectKind.SR_TEXT_REPORT, WORKSTATION, 1),))
    data = _json(build_service_request(study, "pat", SETTINGS))
    assert [i["value"] for i in data["identifier"]] == ["A9"]
    assert data["identifier"][0]["system"] == "http://localhost/fhir/sid/accession"
    assert data["status"] == "unknown"  # a report without images does not tell whether work is pending
    for absent in ("code", "reason", "requester", "note", "authoredOn"):
        assert absent not in data


# ProcedureEuImaging


def test_procedure_facts() -> None:
    data = _json(build_procedure(_study(), "pat", "is1", ["dev1"], SETTINGS))
    assert data["meta"]["profile"] == [PROC_PROFILE]
    assert data["status"] == "completed"
    assert data["identifier"] == [{"type": {"text": "Performed Procedure Step ID"}, "value": "PPS1"}]
    assert _codes(data["code"]) == [("urn:dicom-bridge:private-scheme:99ACME", "P-1")]  # protocol codes
    assert data["code"]["text"] == "CT THORAX"
    assert data["subject"] == {"reference": "Patient/pat"}
    assert data["occurrenceDateTime"] == "2024-03-15T10:15:30+01:00"
    assert "_occurrenceDateTime" not in data  # DICOM gave the offset
    based_on = data["basedOn"][0]
    assert based_on["reference"] == f"ServiceRequest/{service_request_id(ORDER, SETTINGS)}"
    assert based_on["identifier"]["value"] == "A123"
    functions = [(_codes(p["function"])[0][1], p["function"].get("text"), p["actor"]["reference"].split("/")[0])
                 for p in data["performer"]]
    assert functions == [
        ("223366009", "Performing physician", "PractitionerRole"),
        ("223366009", "Operator", "PractitionerRole"),
        ("314789007", None, "Device"),
    ]
    assert data["performer"][2]["actor"]["reference"] == "Device/dev1"
    for absent in ("partOf", "focus", "reason", "bodySite"):
        assert absent not in data


def test_procedure_code_prefers_procedure_codes_over_protocol() -> None:
    study = _study(performed_procedure=replace(PERFORMED, procedure_codes=(CT_CHEST,)))
    assert _codes(_json(build_procedure(study, "pat", "is1", [], SETTINGS))["code"]) == [(LOINC, "24627-2")]


def test_procedure_without_offset_gets_uncertain_period() -> None:
    study = _study(performed_procedure=replace(PERFORMED, started=DicomDateTime("2024-07-01T08:00:00")))
    data = _json(build_procedure(study, "pat", "is1", [], SETTINGS))
    assert data["occurrenceDateTime"] == "2024-07-01T08:00:00+02:00"
    assert data["_occurrenceDateTime"]["extension"][0]["url"] == UNCERTAIN


def test_procedure_from_study_start_and_description_without_step() -> None:
    data = _json(build_procedure(_study(performed_procedure=None, order=None), "pat", "is1", [], SETTINGS))
    assert data["code"] == {"text": "CT CHEST"}
    assert data["occurrenceDateTime"] == "2024-03-15T10:00:00+01:00"
    for absent in ("identifier", "performer", "basedOn"):
        assert absent not in data


def test_no_procedure_without_start_or_without_code() -> None:
    undated = _study(started=None, performed_procedure=replace(PERFORMED, started=None))
    assert build_procedure(undated, "pat", "is1", [], SETTINGS) is None
    uncoded = _study(study_description=None, performed_procedure=PerformedProcedure(operators=(OPERATOR,),
                                                                                   started=PERFORMED.started))
    assert build_procedure(uncoded, "pat", "is1", [], SETTINGS) is None


# DeviceEuImaging


def test_device_without_uid_keeps_its_id() -> None:
    device = build_device(SCANNER, "CT")
    assert device.id == resource_id("Device", "ACME", "Scan 9", "", "CT1") == device_id(SCANNER)
    data = _json(device)
    assert "identifier" not in data and "udiCarrier" not in data
    assert data["displayName"] == "CT1"


def test_device_uid_and_mapping() -> None:
    equipment = replace(SCANNER, device_uid="1.2.3.9", device_id="ROOM-2", software_versions=("VA10", "SP2"),
                        unique_device_identifiers=("(01)00884838002367(21)SN1", "+H123ABC1"),
                        manufacturer_device_class_uids=("1.2.3.7",), device_serial_number="SN1")
    data = _json(build_device(equipment, "CT"))
    assert data["id"] == resource_id("Device", "1.2.3.9") == device_id(equipment)
    uid, local = data["identifier"]
    assert (uid["system"], uid["value"]) == ("urn:dicom:uid", "urn:oid:1.2.3.9")
    assert _codes(uid["type"]) == [
        ("http://hl7.eu/fhir/imaging-r5/CodeSystem/codesystem-missing-dicom-terminology", "00181002")
    ]
    assert local == {"type": {"text": "Device ID"}, "value": "ROOM-2"}
    gs1, other = data["udiCarrier"]
    assert gs1 == {"deviceIdentifier": "00884838002367", "issuer": "http://hl7.org/fhir/NamingSystem/gs1-di",
                   "carrierHRF": "(01)00884838002367(21)SN1"}
    assert other["deviceIdentifier"] == "+H123ABC1" and "issuer" not in other
    assert other["_issuer"]["extension"][0]["valueCode"] == "unknown"
    assert [v["value"] for v in data["version"]] == ["VA10", "SP2"]
    assert data["serialNumber"] == "SN1" and data["manufacturer"] == "ACME" and data["modelNumber"] == "Scan 9"
    assert ("urn:ietf:rfc:3986", "urn:oid:1.2.3.7") in [c for t in data["type"] for c in _codes(t)]
    assert _codes(data["category"][0]) == [(SNOMED, "314789007")]


# Placement


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return own + [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def _placement() -> Placement:
    return header_placement(_study(), "pat", "is1", SETTINGS)


def test_placement_entries_idr_and_narrative() -> None:
    placement = _placement()
    by_type: dict[str, list[Any]] = {}
    for resource in placement.resources:
        by_type.setdefault(resource.get_resource_type(), []).append(resource)
    service_request, procedure = by_type["ServiceRequest"][0], by_type["Procedure"][0]
    order_entry = placement.entries[EuSection.ORDER]
    assert [r.reference for r in order_entry] == [f"ServiceRequest/{service_request.id}"]
    assert order_entry[0].identifier is not None and order_entry[0].identifier.value == "A123"
    assert [r.reference for r in placement.entries[EuSection.PROCEDURE]] == [f"Procedure/{procedure.id}"]
    idr = [(url, r.reference) for url, r in placement.idr]
    assert idr == [(EXT_IDR_IMAGING_PROCEDURE, f"Procedure/{procedure.id}")]
    assert placement.narrative[EuSection.ORDER] == [
        "Requested: CT chest with contrast (accession A123, requested procedure RP1); reason: Persistent cough; "
        "requested by Greg House"
    ]
    assert placement.narrative[EuSection.PROCEDURE] == [
        "Performed: CT THORAX on 2024-03-15T10:15:30+01:00 by Bob Doc (performing physician), Anna Op (operator) "
        "(procedure step PPS1); device: ACME Scan 9 CT1"
    ]
    assert len(by_type["Practitioner"]) == 3 and len(by_type["PractitionerRole"]) == 2
    assert [o.name for o in by_type["Organization"]] == ["General Hospital"]
    assert [d.id for d in by_type["Device"]] == [device_id(SCANNER)]  # the SR's workstation is no imaging device
    assert placement.results == [] and placement.presented_forms == []


def test_placement_references_resolve_and_resources_are_listed_once() -> None:
    placement = _placement()
    keys = [f"{r.get_resource_type()}/{r.id}" for r in placement.resources]
    assert len(keys) == len(set(keys))
    for resource in placement.resources:
        for ref in _refs(_json(resource)):
            assert ref in keys or ref == "Patient/pat", ref


def test_placement_without_order_or_procedure_is_empty() -> None:
    study = _study(order=None, performed_procedure=None, started=None)
    placement = header_placement(study, "pat", "is1", SETTINGS)
    assert placement.resources == [] and placement.entries == {} and placement.idr == [] and placement.narrative == {}


def test_placement_without_people_or_institution_adds_no_organization() -> None:
    bare = replace(SCANNER, institution_name=None)
    study = _study(performed_procedure=replace(PERFORMED, performing_physicians=(), operators=()),
                   order=replace(ORDER, requesting_physician=None, reason_codes=(), reason_text=None),
                   series=(_series("1.2.3.1", "CT", ObjectKind.IMAGE, bare, 1),))
    placement = header_placement(study, "pat", "is1", SETTINGS)
    types = sorted(r.get_resource_type() for r in placement.resources)
    assert types == ["Device", "Procedure", "ServiceRequest"]
    assert placement.narrative[EuSection.ORDER] == [
        "Requested: CT chest with contrast (accession A123, requested procedure RP1)"
    ]

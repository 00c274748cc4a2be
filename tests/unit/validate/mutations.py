"""Mutations of the small document bundle of `bundles.py`: each introduces one defect (see test_mutations.py)."""

from __future__ import annotations

import copy
from typing import Any

from bridge.validate import Violation
from tests.unit.validate.bundles import ACCESSION, BASE, IG, entry, loinc

Bundle = dict[str, Any]


def res(bundle: Bundle, rtype: str, n: int = 0) -> dict[str, Any]:
    """The n-th resource of a type in the bundle."""
    found: list[dict[str, Any]] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]
    return found[n]


def section(bundle: Bundle, code: str) -> dict[str, Any]:
    """The Composition section with this LOINC code."""
    sections: list[dict[str, Any]] = res(bundle, "Composition")["section"]
    return next(s for s in sections if s["code"]["coding"][0]["code"] == code)


def series(bundle: Bundle) -> dict[str, Any]:
    """The ImagingStudy's first series."""
    found: list[dict[str, Any]] = res(bundle, "ImagingStudy")["series"]
    return found[0]


def add(bundle: Bundle, resource: dict[str, Any]) -> None:
    bundle["entry"].append(entry(resource))


def errors(violations: list[Violation]) -> set[str]:
    return {v.rule for v in violations if v.is_error}


def warnings(violations: list[Violation]) -> set[str]:
    return {v.rule for v in violations if not v.is_error}


# -- Bundle ---------------------------------------------------------------------------------------------------

def wrong_bundle_type(b: Bundle) -> None:
    b["type"] = "collection"


def other_bundle_type(b: Bundle) -> None:
    del b["meta"]
    b["type"] = "searchset"
    for e in b["entry"]:
        e["search"] = {"mode": "match"}


def duplicate_full_url(b: Bundle) -> None:
    b["entry"].append(copy.deepcopy(b["entry"][4]))


def drop_bundle_identifier(b: Bundle) -> None:
    del b["identifier"]


def drop_timestamp(b: Bundle) -> None:
    del b["timestamp"]


def composition_not_first(b: Bundle) -> None:
    b["entry"][0], b["entry"][1] = b["entry"][1], b["entry"][0]


def add_total(b: Bundle) -> None:
    b["total"] = 6


def add_search(b: Bundle) -> None:
    b["entry"][2]["search"] = {"mode": "match"}


def add_request(b: Bundle) -> None:
    b["entry"][2]["request"] = {"method": "PUT", "url": "Patient/pat-1"}


def add_response(b: Bundle) -> None:
    b["entry"][2]["response"] = {"status": "200"}


def entry_without_resource(b: Bundle) -> None:
    b["entry"].append({"fullUrl": f"{BASE}/Basic/nothing"})


def versioned_full_url(b: Bundle) -> None:
    b["entry"][5]["fullUrl"] += "/_history/1"


def add_entry_link(b: Bundle) -> None:
    b["entry"][2]["link"] = [{"relation": "self", "url": f"{BASE}/Patient/pat-1"}]


def full_url_disagrees_with_id(b: Bundle) -> None:
    res(b, "Patient")["id"] = "pat-2"


def second_patient(b: Bundle) -> None:
    add(b, {**res(b, "Patient"), "id": "pat-2"})


# -- references -----------------------------------------------------------------------------------------------

def unresolved_reference(b: Bundle) -> None:
    res(b, "Observation")["subject"] = {"reference": "Patient/nobody"}


def reference_type_mismatch(b: Bundle) -> None:
    res(b, "Observation")["subject"]["type"] = "Group"


def study_subject_is_organization(b: Bundle) -> None:
    res(b, "ImagingStudy")["subject"] = {"reference": "Organization/org-1"}


# -- Composition ----------------------------------------------------------------------------------------------

def composition_lacks_report_category(b: Bundle) -> None:
    del res(b, "Composition")["category"][0]


def bad_diagnostic_service(b: Bundle) -> None:
    res(b, "Composition")["category"][2]["coding"][0]["code"] = "XYZ"


def drop_report_performer(b: Bundle) -> None:
    del res(b, "DiagnosticReport")["performer"]


def drop_composition_text(b: Bundle) -> None:
    del res(b, "Composition")["text"]


def malformed_div(b: Bundle) -> None:
    section(b, "18726-0")["text"]["div"] = '<div xmlns="http://www.w3.org/1999/xhtml"><p>unclosed</div>'


def div_without_namespace(b: Bundle) -> None:
    res(b, "Composition")["text"]["div"] = "<div><p>no namespace</p></div>"


def script_in_div(b: Bundle) -> None:
    section(b, "59776-5")["text"]["div"] = '<div xmlns="http://www.w3.org/1999/xhtml"><script>x()</script>a</div>'


def empty_reason_with_entries(b: Bundle) -> None:
    section(b, "18726-0")["emptyReason"] = {"coding": [{"code": "nilknown"}]}


def empty_section_without_reason(b: Bundle) -> None:
    del section(b, "11329-0")["emptyReason"]


def section_with_nothing(b: Bundle) -> None:
    del section(b, "11329-0")["text"]


def section_without_text(b: Bundle) -> None:
    del section(b, "18726-0")["text"]


def drop_procedure_section(b: Bundle) -> None:
    comp = res(b, "Composition")
    comp["section"] = [s for s in comp["section"] if s["code"]["coding"][0]["code"] != "55111-9"]


def duplicate_history_section(b: Bundle) -> None:
    res(b, "Composition")["section"].append(copy.deepcopy(section(b, "11329-0")))


def section_without_code(b: Bundle) -> None:
    del section(b, "59776-5")["code"]


def study_missing_from_section(b: Bundle) -> None:
    section(b, "18726-0")["entry"] = [{"reference": "Patient/pat-1"}]


# -- DiagnosticReport -----------------------------------------------------------------------------------------

def observation_not_in_result(b: Bundle) -> None:
    add(b, {**res(b, "Observation"), "id": "obs-2"})
    section(b, "59776-5")["entry"].append({"reference": "Observation/obs-2"})


def report_without_result(b: Bundle) -> None:
    del res(b, "DiagnosticReport")["result"]
    del section(b, "59776-5")["entry"]


def report_without_composition(b: Bundle) -> None:
    del res(b, "DiagnosticReport")["composition"]


def report_category_lacks_medical_imaging(b: Bundle) -> None:
    del res(b, "DiagnosticReport")["category"][1]


def report_order_not_in_composition(b: Bundle) -> None:
    res(b, "DiagnosticReport")["basedOn"][0]["identifier"]["value"] = "ACC-9999"


def report_identifier_differs(b: Bundle) -> None:
    res(b, "DiagnosticReport")["identifier"][0]["value"] = "R-9999"


def composition_has_two_subjects(b: Bundle) -> None:
    res(b, "Composition")["subject"].append({"reference": "Patient/pat-1"})


def status_not_aligned(b: Bundle) -> None:
    res(b, "DiagnosticReport")["status"] = "preliminary"


def type_differs_from_code(b: Bundle) -> None:
    res(b, "DiagnosticReport")["code"] = loinc("18748-4")


# -- ImagingStudy ---------------------------------------------------------------------------------------------

def study_identifier_without_type(b: Bundle) -> None:
    del res(b, "ImagingStudy")["identifier"][0]["type"]


def invalid_series_uid(b: Bundle) -> None:
    series(b)["uid"] = "1.2.03.4"


def modality_not_dcm(b: Bundle) -> None:
    series(b)["modality"]["coding"][0]["system"] = "http://example.org/modality"


def unknown_performer_function(b: Bundle) -> None:
    series(b)["performer"][0]["function"]["coding"][0]["code"] = "AUT"


def device_performer_is_organization(b: Bundle) -> None:
    series(b)["performer"][0]["function"]["coding"][0]["code"] = "DEV"


def sop_class_without_code(b: Bundle) -> None:
    del series(b)["instance"][0]["sopClass"]["code"]


def anatomical_region_outside_value_set(b: Bundle) -> None:
    res(b, "ImagingStudy")["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = "51185008"


# -- identifiers, orders --------------------------------------------------------------------------------------

def accession_without_type(b: Bundle) -> None:
    del res(b, "DiagnosticReport")["basedOn"][0]["identifier"]["type"]


def order_without_category(b: Bundle) -> None:
    add(b, {"resourceType": "ServiceRequest", "id": "sr-1", "status": "completed", "intent": "order",
            "identifier": [copy.deepcopy(ACCESSION)], "subject": {"reference": "Patient/pat-1"}})
    section(b, "55115-0")["entry"] = [{"reference": "ServiceRequest/sr-1"}]


# -- data types, Patient --------------------------------------------------------------------------------------

def uncertain_period_without_period(b: Bundle) -> None:
    res(b, "ImagingStudy")["_started"] = {"extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/uncertainPeriod", "valueString": "no timezone"}]}


def uncertain_period_without_end(b: Bundle) -> None:
    res(b, "ImagingStudy")["_started"] = {"extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/uncertainPeriod",
         "valuePeriod": {"start": "2024-03-01T10:00:00+12:00"}}]}


def bad_data_absent_reason(b: Bundle) -> None:
    patient = res(b, "Patient")
    del patient["birthDate"]
    patient["_birthDate"] = {"extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "forgotten"}]}


def nameless_patient_name(b: Bundle) -> None:
    res(b, "Patient")["name"] = [{"use": "official"}]


def drop_birth_date(b: Bundle) -> None:
    del res(b, "Patient")["birthDate"]


# -- radiation dose, selections -------------------------------------------------------------------------------

def make_dose(**overrides: Any) -> dict[str, Any]:
    dose = {"resourceType": "Observation", "id": "dose-1", "status": "final", "code": loinc("73569-6"),
            "subject": {"reference": "Patient/pat-1"}, "valueString": "CTDIvol 5 mGy, DLP 200 mGy.cm",
            "derivedFrom": [{"reference": "ImagingStudy/study-1"}]}
    dose.update(overrides)
    return {k: v for k, v in dose.items() if v is not None}


def dose_without_study(b: Bundle) -> None:
    add(b, make_dose(derivedFrom=None))
    res(b, "DiagnosticReport")["result"].append({"reference": "Observation/dose-1"})
    section(b, "59776-5")["entry"].append({"reference": "Observation/dose-1"})


def dose_not_in_result(b: Bundle) -> None:
    add(b, make_dose())


def make_selection(**overrides: Any) -> dict[str, Any]:
    selection = {"resourceType": "ImagingSelection", "id": "sel-1", "status": "available",
                 "meta": {"profile": [IG + "SrInstanceImagingSelectionEuImaging"]},
                 "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:1.2.826.0.1.3680043.8.498.9",
                                 "type": {"coding": [{"system": "http://hl7.eu/fhir/imaging-r5/CodeSystem/"
                                                      "codesystem-missing-dicom-terminology", "code": "00080018"}]}}],
                 "subject": {"reference": "Patient/pat-1"}, "code": {"text": "RDSR"},
                 "studyUid": "1.2.826.0.1.3680043.8.498.1", "seriesUid": "1.2.826.0.1.3680043.8.498.1.9",
                 "derivedFrom": [{"reference": "ImagingStudy/study-1"}],
                 "instance": [{"uid": "1.2.826.0.1.3680043.8.498.9"}]}
    selection.update(overrides)
    return {k: v for k, v in selection.items() if v is not None}


def selection_without_study(b: Bundle) -> None:
    add(b, make_selection(derivedFrom=None))


def sr_selection_without_series(b: Bundle) -> None:
    add(b, make_selection(seriesUid=None))


def sr_selection_with_region(b: Bundle) -> None:
    add(b, make_selection(instance=[{"uid": "1.2.826.0.1.3680043.8.498.9", "subset": ["1"]}]))


# -- structure ------------------------------------------------------------------------------------------------

def wrong_typed_field(b: Bundle) -> None:
    series(b)["number"] = "one"


def number_as_string(b: Bundle) -> None:
    res(b, "ImagingStudy")["numberOfSeries"] = "1"  # fhir.resources would coerce it


def code_outside_required_binding(b: Bundle) -> None:
    res(b, "ImagingStudy")["status"] = "done"


def empty_array(b: Bundle) -> None:
    res(b, "Patient")["identifier"] = []


def empty_object(b: Bundle) -> None:
    res(b, "Patient")["name"][0]["period"] = {}

"""Mutation tests: one defect at a time in a small conformant bundle must be reported under exactly its rule id."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from bridge.validate import Violation, validate_bundle, validate_resource
from bridge.validate.rules.catalogue import BY_ID
from tests.unit.validate.bundles import ACCESSION, BASE, IG, entry, loinc, patient

Bundle = dict[str, Any]
Mutation = Callable[[Bundle], None]


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

def _dose(**overrides: Any) -> dict[str, Any]:
    dose = {"resourceType": "Observation", "id": "dose-1", "status": "final", "code": loinc("73569-6"),
            "subject": {"reference": "Patient/pat-1"}, "valueString": "CTDIvol 5 mGy, DLP 200 mGy.cm",
            "derivedFrom": [{"reference": "ImagingStudy/study-1"}]}
    dose.update(overrides)
    return {k: v for k, v in dose.items() if v is not None}


def dose_without_study(b: Bundle) -> None:
    add(b, _dose(derivedFrom=None))
    res(b, "DiagnosticReport")["result"].append({"reference": "Observation/dose-1"})
    section(b, "59776-5")["entry"].append({"reference": "Observation/dose-1"})


def dose_not_in_result(b: Bundle) -> None:
    add(b, _dose())


def _selection(**overrides: Any) -> dict[str, Any]:
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
    add(b, _selection(derivedFrom=None))


def sr_selection_without_series(b: Bundle) -> None:
    add(b, _selection(seriesUid=None))


def sr_selection_with_region(b: Bundle) -> None:
    add(b, _selection(instance=[{"uid": "1.2.826.0.1.3680043.8.498.9", "subset": ["1"]}]))


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


ERROR_MUTATIONS: list[Any] = [
    # (mutation, expected rule, other error rules the same defect necessarily triggers)
    pytest.param(wrong_typed_field, "fhir-structure", set(), id="fhir-structure"),
    pytest.param(number_as_string, "fhir-structure", set(), id="fhir-structure-json-type"),
    pytest.param(code_outside_required_binding, "fhir-structure", set(), id="fhir-structure-code"),
    pytest.param(empty_array, "ele-1", set(), id="ele-1-array"),
    pytest.param(empty_object, "ele-1", set(), id="ele-1-object"),
    pytest.param(add_total, "bdl-1", set(), id="bdl-1"),
    pytest.param(add_search, "bdl-2", set(), id="bdl-2"),
    pytest.param(add_request, "bdl-3", set(), id="bdl-3"),
    pytest.param(add_response, "bdl-4", set(), id="bdl-4"),
    pytest.param(entry_without_resource, "bdl-5", set(), id="bdl-5"),
    pytest.param(duplicate_full_url, "bdl-7", set(), id="bdl-7"),
    pytest.param(versioned_full_url, "bdl-8", {"eu-img-reference-unresolved"}, id="bdl-8"),
    pytest.param(drop_bundle_identifier, "bdl-9", set(), id="bdl-9"),
    pytest.param(drop_timestamp, "bdl-10", set(), id="bdl-10"),
    pytest.param(composition_not_first, "bdl-11", set(), id="bdl-11"),
    pytest.param(wrong_bundle_type, "eu-img-bundle-type", set(), id="eu-img-bundle-type"),
    pytest.param(other_bundle_type, "eu-img-bundle-type", set(), id="eu-img-bundle-type-other"),
    pytest.param(add_entry_link, "eu-img-bundle-entries", set(), id="eu-img-bundle-entries"),
    pytest.param(full_url_disagrees_with_id, "eu-img-bundle-fullurl", set(), id="eu-img-bundle-fullurl"),
    pytest.param(second_patient, "eu-img-bundle-slices", set(), id="eu-img-bundle-slices"),
    pytest.param(unresolved_reference, "eu-img-reference-unresolved", set(), id="eu-img-reference-unresolved"),
    pytest.param(reference_type_mismatch, "eu-img-reference-target", set(), id="eu-img-reference-target"),
    pytest.param(study_subject_is_organization, "eu-img-reference-target", set(), id="eu-img-reference-target-element"),
    pytest.param(composition_lacks_report_category, "eu-img-composition-category", set(),
                 id="eu-img-composition-category"),
    pytest.param(bad_diagnostic_service, "eu-img-diagnostic-service", set(), id="eu-img-diagnostic-service"),
    pytest.param(drop_report_performer, "dr-comp-author-org", set(), id="dr-comp-author-org"),
    pytest.param(drop_composition_text, "eu-img-composition-text", set(), id="eu-img-composition-text"),
    pytest.param(malformed_div, "eu-img-narrative", set(), id="eu-img-narrative-malformed"),
    pytest.param(div_without_namespace, "eu-img-narrative", set(), id="eu-img-narrative-namespace"),
    pytest.param(script_in_div, "eu-img-narrative", set(), id="eu-img-narrative-script"),
    pytest.param(section_with_nothing, "cmp-1", {"eu-imaging-composition-2", "eu-img-section-text"}, id="cmp-1"),
    pytest.param(empty_reason_with_entries, "cmp-2", set(), id="cmp-2"),
    pytest.param(empty_section_without_reason, "eu-imaging-composition-1", set(), id="eu-imaging-composition-1"),
    pytest.param(section_with_nothing, "eu-imaging-composition-2", {"cmp-1", "eu-img-section-text"},
                 id="eu-imaging-composition-2"),
    pytest.param(section_without_code, "eu-img-section-code", set(), id="eu-img-section-code"),
    pytest.param(drop_procedure_section, "eu-img-section-mandatory", set(), id="eu-img-section-mandatory"),
    pytest.param(duplicate_history_section, "eu-img-section-duplicate", set(), id="eu-img-section-duplicate"),
    pytest.param(section_without_text, "eu-img-section-text", set(), id="eu-img-section-text"),
    pytest.param(study_missing_from_section, "eu-img-section-study", set(), id="eu-img-section-study"),
    pytest.param(observation_not_in_result, "dgr-1", set(), id="dgr-1"),
    pytest.param(report_category_lacks_medical_imaging, "eu-img-dr-category", set(), id="eu-img-dr-category"),
    pytest.param(report_without_composition, "eu-img-dr-composition", set(), id="eu-img-dr-composition"),
    pytest.param(report_without_result, "eu-img-dr-result", set(), id="eu-img-dr-result"),
    pytest.param(report_order_not_in_composition, "eu-img-dr-in-composition", set(), id="eu-img-dr-in-composition"),
    pytest.param(report_identifier_differs, "eu-img-report-identifier", set(), id="eu-img-report-identifier"),
    pytest.param(composition_has_two_subjects, "eu-img-report-subject", set(), id="eu-img-report-subject"),
    pytest.param(status_not_aligned, "eu-img-report-status", set(), id="eu-img-report-status"),
    pytest.param(type_differs_from_code, "eu-img-report-type", set(), id="eu-img-report-type"),
    pytest.param(study_identifier_without_type, "eu-img-study-identifier", set(), id="eu-img-study-identifier"),
    pytest.param(invalid_series_uid, "eu-img-dicom-uid", set(), id="eu-img-dicom-uid"),
    pytest.param(modality_not_dcm, "eu-img-series-modality", set(), id="eu-img-series-modality"),
    pytest.param(unknown_performer_function, "eu-img-series-performer", set(), id="eu-img-series-performer"),
    pytest.param(device_performer_is_organization, "eu-img-series-performer", set(),
                 id="eu-img-series-performer-actor"),
    pytest.param(sop_class_without_code, "eu-img-instance-sopclass", set(), id="eu-img-instance-sopclass"),
    pytest.param(anatomical_region_outside_value_set, "eu-img-anatomical-region", set(),
                 id="eu-img-anatomical-region"),
    pytest.param(accession_without_type, "eu-img-accession-identifier", set(), id="eu-img-accession-identifier"),
    pytest.param(order_without_category, "eu-img-order-category", set(), id="eu-img-order-category"),
    pytest.param(uncertain_period_without_period, "eu-img-uncertain-period", set(), id="eu-img-uncertain-period"),
    pytest.param(uncertain_period_without_end, "eu-img-uncertain-period", set(), id="eu-img-uncertain-period-end"),
    pytest.param(bad_data_absent_reason, "eu-img-data-absent-reason", set(), id="eu-img-data-absent-reason"),
    pytest.param(nameless_patient_name, "eu-img-patient-name", set(), id="eu-img-patient-name"),
    pytest.param(drop_birth_date, "eu-img-patient-birthdate", set(), id="eu-img-patient-birthdate"),
    pytest.param(dose_without_study, "eu-img-dose-observation", set(), id="eu-img-dose-observation"),
    pytest.param(dose_not_in_result, "eu-img-dose-result", set(), id="eu-img-dose-result"),
    pytest.param(selection_without_study, "eu-img-selection-study", set(), id="eu-img-selection-study"),
    pytest.param(sr_selection_without_series, "eu-img-sr-selection", set(), id="eu-img-sr-selection"),
    pytest.param(sr_selection_with_region, "eu-img-sr-selection", set(), id="eu-img-sr-selection-region"),
]


def test_clean_document_bundle_has_no_violations(document_bundle: Bundle) -> None:
    assert validate_bundle(document_bundle) == []


@pytest.mark.parametrize(("mutate", "rule", "also"), ERROR_MUTATIONS)
def test_mutation_is_reported_under_its_rule(document_bundle: Bundle, mutate: Mutation, rule: str,
                                             also: set[str]) -> None:
    mutate(document_bundle)
    found = errors(validate_bundle(document_bundle))
    assert rule in found
    assert found - {rule} <= also, f"unexpected extra errors {found - {rule} - also}"


# -- warnings: SHOULD, obligations, im-imagingstudy-01 ----------------------------------------------------------

def study_uid_without_urn_oid(b: Bundle) -> None:
    ident = res(b, "ImagingStudy")["identifier"][0]
    ident["value"] = ident["value"].removeprefix("urn:oid:")


def drop_composition_profile(b: Bundle) -> None:
    del res(b, "Composition")["meta"]


def unreferenced_organization(b: Bundle) -> None:
    add(b, {"resourceType": "Organization", "id": "org-2", "name": "Elsewhere"})


def drop_number_of_series(b: Bundle) -> None:
    del res(b, "ImagingStudy")["numberOfSeries"]


def order_without_accession(b: Bundle) -> None:
    add(b, {"resourceType": "ServiceRequest", "id": "sr-1", "status": "completed", "intent": "order",
            "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "363679005"}]}],
            "subject": {"reference": "Patient/pat-1"}})
    section(b, "55115-0")["entry"] = [{"reference": "ServiceRequest/sr-1"}]


def dose_only_in_findings(b: Bundle) -> None:
    add(b, _dose())
    res(b, "DiagnosticReport")["result"].append({"reference": "Observation/dose-1"})
    section(b, "59776-5")["entry"].append({"reference": "Observation/dose-1"})


WARNING_MUTATIONS: list[Any] = [
    pytest.param(study_uid_without_urn_oid, "im-imagingstudy-01", id="im-imagingstudy-01"),
    pytest.param(drop_composition_profile, "eu-img-meta-profile", id="eu-img-meta-profile"),
    pytest.param(unreferenced_organization, "eu-img-bundle-orphan", id="eu-img-bundle-orphan"),
    pytest.param(drop_number_of_series, "eu-img-study-populate", id="eu-img-study-populate"),
    pytest.param(order_without_accession, "eu-img-order-accession", id="eu-img-order-accession"),
    pytest.param(dose_only_in_findings, "eu-img-dose-linked", id="eu-img-dose-linked"),
]


@pytest.mark.parametrize(("mutate", "rule"), WARNING_MUTATIONS)
def test_should_level_mutation_is_a_warning_only(document_bundle: Bundle, mutate: Mutation, rule: str) -> None:
    mutate(document_bundle)
    violations = validate_bundle(document_bundle)
    assert errors(violations) == set()
    assert warnings(violations) == {rule}


# -- minimal-metadata format ----------------------------------------------------------------------------------

def minimal_second_patient(b: Bundle) -> None:
    b["entry"].append({"fullUrl": "urn:uuid:2b0c6a56-0d5e-4d43-9a43-5b8a0f1e2c02", "resource": patient()})


def minimal_with_composition(b: Bundle) -> None:
    res(b, "DiagnosticReport")["composition"] = {"display": "a Composition elsewhere"}


def minimal_without_pdf(b: Bundle) -> None:
    del res(b, "DiagnosticReport")["presentedForm"]


def minimal_study_neither_reference_nor_identifier(b: Bundle) -> None:
    res(b, "DiagnosticReport")["study"] = [{"display": "CT chest"}]


def minimal_study_identifier_wrong_system(b: Bundle) -> None:
    res(b, "DiagnosticReport")["study"][0]["identifier"]["system"] = "urn:ietf:rfc:3986"


def minimal_as_document(b: Bundle) -> None:
    b["type"] = "document"


def minimal_with_bundle_link(b: Bundle) -> None:
    b["link"] = [{"relation": "self", "url": "http://localhost/fhir/Bundle/minimal-1"}]


def minimal_without_subject(b: Bundle) -> None:
    del res(b, "DiagnosticReport")["subject"]


def minimal_without_identifier(b: Bundle) -> None:
    del res(b, "DiagnosticReport")["identifier"]


def minimal_without_category(b: Bundle) -> None:
    del res(b, "DiagnosticReport")["category"]


def minimal_bad_urn_uuid(b: Bundle) -> None:
    b["entry"][1]["fullUrl"] = "urn:uuid:not-a-uuid"
    res(b, "DiagnosticReport")["subject"]["reference"] = "urn:uuid:not-a-uuid"


MINIMAL_MUTATIONS: list[Any] = [
    pytest.param(minimal_second_patient, "eu-img-minimal-slices", id="eu-img-minimal-slices"),
    pytest.param(minimal_with_composition, "eu-img-minimal-composition", id="eu-img-minimal-composition"),
    pytest.param(minimal_without_pdf, "eu-img-minimal-presented-form", id="eu-img-minimal-presented-form"),
    pytest.param(minimal_study_neither_reference_nor_identifier, "eu-img-minimal-reference",
                 id="eu-img-minimal-reference"),
    pytest.param(minimal_study_identifier_wrong_system, "eu-img-study-identifier", id="eu-img-study-identifier"),
    pytest.param(minimal_as_document, "eu-img-bundle-type", id="eu-img-bundle-type"),
    pytest.param(minimal_with_bundle_link, "eu-img-bundle-entries", id="eu-img-bundle-entries"),
    pytest.param(minimal_without_subject, "eu-img-report-subject", id="eu-img-report-subject"),
    pytest.param(minimal_without_identifier, "eu-img-report-identifier", id="eu-img-report-identifier"),
    pytest.param(minimal_without_category, "eu-img-dr-category", id="eu-img-dr-category"),
    pytest.param(minimal_bad_urn_uuid, "eu-img-bundle-fullurl", id="eu-img-bundle-fullurl"),
]


def test_clean_minimal_bundle_has_no_violations(minimal_bundle: Bundle) -> None:
    assert validate_bundle(minimal_bundle) == []


@pytest.mark.parametrize(("mutate", "rule"), MINIMAL_MUTATIONS)
def test_minimal_mutation_is_reported_under_its_rule(minimal_bundle: Bundle, mutate: Mutation, rule: str) -> None:
    mutate(minimal_bundle)
    assert errors(validate_bundle(minimal_bundle)) == {rule}


# -- standalone resources: the MHD wrapper DocumentReference (checklist §10.15) --------------------------------

def docref() -> dict[str, Any]:
    """A DocumentReferenceImagingReport that points at the document Bundle."""
    return {
        "resourceType": "DocumentReference", "id": "docref-1",
        "meta": {"profile": [IG + "DocumentReferenceImagingReport"]},
        "status": "current", "subject": {"reference": "Patient/pat-1"}, "date": "2024-03-01T12:00:00+01:00",
        "category": [{"coding": [{"system": "http://hl7.eu/fhir/eu-health-data-api/CodeSystem/"
                                            "eehrxf-document-priority-category-cs", "code": "Medical-Imaging"}]}],
        "type": loinc("85430-7"),
        "bodySite": [{"concept": {"coding": [{"system": "http://snomed.info/sct", "code": "67734004"}]}}],
        "content": [{"attachment": {"contentType": "application/fhir+json", "url": "Bundle/report-1"},
                     "profile": [{"valueCanonical": IG + "BundleReportEuImaging"}]}],
    }


def docref_without_subject(d: dict[str, Any]) -> None:
    del d["subject"]


def docref_wrong_type(d: dict[str, Any]) -> None:
    d["type"] = loinc("18748-4")


def docref_without_body_site(d: dict[str, Any]) -> None:
    del d["bodySite"]


def docref_two_contents(d: dict[str, Any]) -> None:
    d["content"].append(copy.deepcopy(d["content"][0]))


def docref_content_without_url(d: dict[str, Any]) -> None:
    del d["content"][0]["attachment"]["url"]


DOCREF_MUTATIONS: list[Any] = [
    pytest.param(docref_without_subject, "eu-img-docref-header", id="eu-img-docref-header"),
    pytest.param(docref_wrong_type, "eu-img-docref-codes", id="eu-img-docref-codes"),
    pytest.param(docref_without_body_site, "eu-img-docref-codes", id="eu-img-docref-codes-bodysite"),
    pytest.param(docref_two_contents, "eu-img-docref-content", id="eu-img-docref-content"),
    pytest.param(docref_content_without_url, "eu-img-docref-content", id="eu-img-docref-content-url"),
]


def test_clean_wrapper_document_reference_has_no_violations() -> None:
    assert validate_resource(docref()) == []


@pytest.mark.parametrize(("mutate", "rule"), DOCREF_MUTATIONS)
def test_wrapper_mutation_is_reported_under_its_rule(mutate: Callable[[dict[str, Any]], None], rule: str) -> None:
    resource = docref()
    mutate(resource)
    assert errors(validate_resource(resource)) == {rule}


# -- every rule of the catalogue is exercised ------------------------------------------------------------------

TESTED_ELSEWHERE = {
    "fhir-json": "test_validate_robustness.py",
    "eu-img-rule-failed": "test_validate_robustness.py",
}


def test_every_catalogue_rule_has_a_mutation() -> None:
    covered = {p.values[1] for table in (ERROR_MUTATIONS, WARNING_MUTATIONS, MINIMAL_MUTATIONS, DOCREF_MUTATIONS)
               for p in table}
    assert set(BY_ID) - covered == set(TESTED_ELSEWHERE)
    assert covered <= set(BY_ID)

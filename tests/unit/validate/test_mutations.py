"""Mutation tests: one defect at a time in a small conformant bundle must be reported under exactly its rule id."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from bridge.validate import validate_bundle, validate_resource
from bridge.validate.rules.catalogue import BY_ID
from tests.unit.validate import mutations as m
from tests.unit.validate.bundles import IG, loinc, patient
from tests.unit.validate.mutations import Bundle

Mutation = Callable[[Bundle], None]


ERROR_MUTATIONS: list[Any] = [
    # (mutation, expected rule, other error rules the same defect necessarily triggers)
    pytest.param(m.wrong_typed_field, "fhir-structure", set(), id="fhir-structure"),
    pytest.param(m.number_as_string, "fhir-structure", set(), id="fhir-structure-json-type"),
    pytest.param(m.code_outside_required_binding, "fhir-structure", set(), id="fhir-structure-code"),
    pytest.param(m.empty_array, "ele-1", set(), id="ele-1-array"),
    pytest.param(m.empty_object, "ele-1", set(), id="ele-1-object"),
    pytest.param(m.add_total, "bdl-1", set(), id="bdl-1"),
    pytest.param(m.add_search, "bdl-2", set(), id="bdl-2"),
    pytest.param(m.add_request, "bdl-3", set(), id="bdl-3"),
    pytest.param(m.add_response, "bdl-4", set(), id="bdl-4"),
    pytest.param(m.entry_without_resource, "bdl-5", set(), id="bdl-5"),
    pytest.param(m.duplicate_full_url, "bdl-7", set(), id="bdl-7"),
    pytest.param(m.versioned_full_url, "bdl-8", {"eu-img-reference-unresolved"}, id="bdl-8"),
    pytest.param(m.drop_bundle_identifier, "bdl-9", set(), id="bdl-9"),
    pytest.param(m.drop_timestamp, "bdl-10", set(), id="bdl-10"),
    pytest.param(m.composition_not_first, "bdl-11", set(), id="bdl-11"),
    pytest.param(m.wrong_bundle_type, "eu-img-bundle-type", set(), id="eu-img-bundle-type"),
    pytest.param(m.other_bundle_type, "eu-img-bundle-type", set(), id="eu-img-bundle-type-other"),
    pytest.param(m.add_entry_link, "eu-img-bundle-entries", set(), id="eu-img-bundle-entries"),
    pytest.param(m.full_url_disagrees_with_id, "eu-img-bundle-fullurl", set(), id="eu-img-bundle-fullurl"),
    pytest.param(m.second_patient, "eu-img-bundle-slices", set(), id="eu-img-bundle-slices"),
    pytest.param(m.unresolved_reference, "eu-img-reference-unresolved", set(), id="eu-img-reference-unresolved"),
    pytest.param(m.reference_type_mismatch, "eu-img-reference-target", set(), id="eu-img-reference-target"),
    pytest.param(m.study_subject_is_organization, "eu-img-reference-target", set(),
                 id="eu-img-reference-target-element"),
    pytest.param(m.composition_lacks_report_category, "eu-img-composition-category", set(),
                 id="eu-img-composition-category"),
    pytest.param(m.bad_diagnostic_service, "eu-img-diagnostic-service", set(), id="eu-img-diagnostic-service"),
    pytest.param(m.drop_report_performer, "dr-comp-author-org", set(), id="dr-comp-author-org"),
    pytest.param(m.drop_composition_text, "eu-img-composition-text", set(), id="eu-img-composition-text"),
    pytest.param(m.malformed_div, "eu-img-narrative", set(), id="eu-img-narrative-malformed"),
    pytest.param(m.div_without_namespace, "eu-img-narrative", set(), id="eu-img-narrative-namespace"),
    pytest.param(m.script_in_div, "eu-img-narrative", set(), id="eu-img-narrative-script"),
    pytest.param(m.section_with_nothing, "cmp-1", {"eu-imaging-composition-2", "eu-img-section-text"}, id="cmp-1"),
    pytest.param(m.empty_reason_with_entries, "cmp-2", set(), id="cmp-2"),
    pytest.param(m.empty_section_without_reason, "eu-imaging-composition-1", set(), id="eu-imaging-composition-1"),
    pytest.param(m.section_with_nothing, "eu-imaging-composition-2", {"cmp-1", "eu-img-section-text"},
                 id="eu-imaging-composition-2"),
    pytest.param(m.section_without_code, "eu-img-section-code", set(), id="eu-img-section-code"),
    pytest.param(m.drop_procedure_section, "eu-img-section-mandatory", set(), id="eu-img-section-mandatory"),
    pytest.param(m.duplicate_history_section, "eu-img-section-duplicate", set(), id="eu-img-section-duplicate"),
    pytest.param(m.section_without_text, "eu-img-section-text", set(), id="eu-img-section-text"),
    pytest.param(m.study_missing_from_section, "eu-img-section-study", set(), id="eu-img-section-study"),
    pytest.param(m.observation_not_in_result, "dgr-1", set(), id="dgr-1"),
    pytest.param(m.report_category_lacks_medical_imaging, "eu-img-dr-category", set(), id="eu-img-dr-category"),
    pytest.param(m.report_without_composition, "eu-img-dr-composition", set(), id="eu-img-dr-composition"),
    pytest.param(m.report_without_result, "eu-img-dr-result", set(), id="eu-img-dr-result"),
    pytest.param(m.report_order_not_in_composition, "eu-img-dr-in-composition", set(), id="eu-img-dr-in-composition"),
    pytest.param(m.report_identifier_differs, "eu-img-report-identifier", set(), id="eu-img-report-identifier"),
    pytest.param(m.composition_has_two_subjects, "eu-img-report-subject", set(), id="eu-img-report-subject"),
    pytest.param(m.status_not_aligned, "eu-img-report-status", set(), id="eu-img-report-status"),
    pytest.param(m.type_differs_from_code, "eu-img-report-type", set(), id="eu-img-report-type"),
    pytest.param(m.study_identifier_without_type, "eu-img-study-identifier", set(), id="eu-img-study-identifier"),
    pytest.param(m.invalid_series_uid, "eu-img-dicom-uid", set(), id="eu-img-dicom-uid"),
    pytest.param(m.modality_not_dcm, "eu-img-series-modality", set(), id="eu-img-series-modality"),
    pytest.param(m.unknown_performer_function, "eu-img-series-performer", set(), id="eu-img-series-performer"),
    pytest.param(m.device_performer_is_organization, "eu-img-series-performer", set(),
                 id="eu-img-series-performer-actor"),
    pytest.param(m.sop_class_without_code, "eu-img-instance-sopclass", set(), id="eu-img-instance-sopclass"),
    pytest.param(m.anatomical_region_outside_value_set, "eu-img-anatomical-region", set(),
                 id="eu-img-anatomical-region"),
    pytest.param(m.accession_without_type, "eu-img-accession-identifier", set(), id="eu-img-accession-identifier"),
    pytest.param(m.order_without_category, "eu-img-order-category", set(), id="eu-img-order-category"),
    pytest.param(m.uncertain_period_without_period, "eu-img-uncertain-period", set(), id="eu-img-uncertain-period"),
    pytest.param(m.uncertain_period_without_end, "eu-img-uncertain-period", set(), id="eu-img-uncertain-period-end"),
    pytest.param(m.bad_data_absent_reason, "eu-img-data-absent-reason", set(), id="eu-img-data-absent-reason"),
    pytest.param(m.nameless_patient_name, "eu-img-patient-name", set(), id="eu-img-patient-name"),
    pytest.param(m.drop_birth_date, "eu-img-patient-birthdate", set(), id="eu-img-patient-birthdate"),
    pytest.param(m.dose_without_study, "eu-img-dose-observation", set(), id="eu-img-dose-observation"),
    pytest.param(m.dose_not_in_result, "eu-img-dose-result", set(), id="eu-img-dose-result"),
    pytest.param(m.selection_without_study, "eu-img-selection-study", set(), id="eu-img-selection-study"),
    pytest.param(m.sr_selection_without_series, "eu-img-sr-selection", set(), id="eu-img-sr-selection"),
    pytest.param(m.sr_selection_with_region, "eu-img-sr-selection", set(), id="eu-img-sr-selection-region"),
]


def test_clean_document_bundle_has_no_violations(document_bundle: Bundle) -> None:
    assert validate_bundle(document_bundle) == []


@pytest.mark.parametrize(("mutate", "rule", "also"), ERROR_MUTATIONS)
def test_mutation_is_reported_under_its_rule(document_bundle: Bundle, mutate: Mutation, rule: str,
                                             also: set[str]) -> None:
    mutate(document_bundle)
    found = m.errors(validate_bundle(document_bundle))
    assert rule in found
    assert found - {rule} <= also, f"unexpected extra errors {found - {rule} - also}"


# -- warnings: SHOULD, obligations, im-imagingstudy-01 ----------------------------------------------------------

def study_uid_without_urn_oid(b: Bundle) -> None:
    ident = m.res(b, "ImagingStudy")["identifier"][0]
    ident["value"] = ident["value"].removeprefix("urn:oid:")


def drop_composition_profile(b: Bundle) -> None:
    del m.res(b, "Composition")["meta"]


def unreferenced_organization(b: Bundle) -> None:
    m.add(b, {"resourceType": "Organization", "id": "org-2", "name": "Elsewhere"})


def drop_number_of_series(b: Bundle) -> None:
    del m.res(b, "ImagingStudy")["numberOfSeries"]


def order_without_accession(b: Bundle) -> None:
    m.add(b, {"resourceType": "ServiceRequest", "id": "sr-1", "status": "completed", "intent": "order",
              "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "363679005"}]}],
              "subject": {"reference": "Patient/pat-1"}})
    m.section(b, "55115-0")["entry"] = [{"reference": "ServiceRequest/sr-1"}]


def dose_only_in_findings(b: Bundle) -> None:
    m.add(b, m.make_dose())
    m.res(b, "DiagnosticReport")["result"].append({"reference": "Observation/dose-1"})
    m.section(b, "59776-5")["entry"].append({"reference": "Observation/dose-1"})


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
    assert m.errors(violations) == set()
    assert m.warnings(violations) == {rule}


# -- minimal-metadata format ----------------------------------------------------------------------------------

def minimal_second_patient(b: Bundle) -> None:
    b["entry"].append({"fullUrl": "urn:uuid:2b0c6a56-0d5e-4d43-9a43-5b8a0f1e2c02", "resource": patient()})


def minimal_with_composition(b: Bundle) -> None:
    m.res(b, "DiagnosticReport")["composition"] = {"display": "a Composition elsewhere"}


def minimal_without_pdf(b: Bundle) -> None:
    del m.res(b, "DiagnosticReport")["presentedForm"]


def minimal_study_neither_reference_nor_identifier(b: Bundle) -> None:
    m.res(b, "DiagnosticReport")["study"] = [{"display": "CT chest"}]


def minimal_study_identifier_wrong_system(b: Bundle) -> None:
    m.res(b, "DiagnosticReport")["study"][0]["identifier"]["system"] = "urn:ietf:rfc:3986"


def minimal_as_document(b: Bundle) -> None:
    b["type"] = "document"


def minimal_with_bundle_link(b: Bundle) -> None:
    b["link"] = [{"relation": "self", "url": "http://localhost/fhir/Bundle/minimal-1"}]


def minimal_without_subject(b: Bundle) -> None:
    del m.res(b, "DiagnosticReport")["subject"]


def minimal_without_identifier(b: Bundle) -> None:
    del m.res(b, "DiagnosticReport")["identifier"]


def minimal_without_category(b: Bundle) -> None:
    del m.res(b, "DiagnosticReport")["category"]


def minimal_bad_urn_uuid(b: Bundle) -> None:
    b["entry"][1]["fullUrl"] = "urn:uuid:not-a-uuid"
    m.res(b, "DiagnosticReport")["subject"]["reference"] = "urn:uuid:not-a-uuid"


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
    assert m.errors(validate_bundle(minimal_bundle)) == {rule}


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
    assert m.errors(validate_resource(resource)) == {rule}


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

"""The public API of bridge.validate: Violation, formatting and summary, profile detection, the rule catalogue."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

import bridge.validate as validate
import bridge.validate.rules as rules
from bridge.validate import (
    BundleKind,
    Violation,
    detect_kind,
    format_violations,
    has_errors,
    summarize,
    validate_bundle,
    validate_file,
)
from bridge.validate.rules.catalogue import BY_ID, RULES, markdown_table, report
from tests.unit.validate.bundles import IG, build_document_bundle, build_minimal_bundle, imaging_study

ERR = Violation("bdl-7", "Bundle.entry[3].fullUrl", "fullUrl 'x' is not unique", "error")
WARN = Violation("im-imagingstudy-01", "ImagingStudy.identifier[0].value", "should start with 'urn:oid:'", "warning")


def test_violation_reads_severity_rule_path_message() -> None:
    assert str(ERR) == "error bdl-7 Bundle.entry[3].fullUrl: fullUrl 'x' is not unique"
    assert ERR.is_error and not WARN.is_error


def test_violation_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ERR.rule = "x"  # type: ignore[misc]


def test_format_violations_prefixes_each_line_and_puts_errors_first() -> None:
    assert format_violations([WARN, ERR], prefix="report.json: ").splitlines() == [
        "report.json: error bdl-7 Bundle.entry[3].fullUrl: fullUrl 'x' is not unique",
        "report.json: warning im-imagingstudy-01 ImagingStudy.identifier[0].value: should start with 'urn:oid:'",
    ]
    assert format_violations([]) == ""


def test_summary_counts_and_verdict() -> None:
    summary = summarize([ERR, WARN, ERR])
    assert (summary.errors, summary.warnings, summary.ok) == (2, 1, False)
    assert summary.by_rule == (("bdl-7", 2), ("im-imagingstudy-01", 1))
    assert str(summary) == "not conformant: 2 error(s), 1 warning(s) (bdl-7 ×2, im-imagingstudy-01 ×1)"
    assert summarize([WARN]).ok and str(summarize([])) == "conformant: no violations"
    assert has_errors([WARN, ERR]) and not has_errors([WARN])


def test_all_lists_the_public_names() -> None:
    public = {n for n in dir(validate) if not n.startswith("_")}
    modules = {"api", "codes", "context", "jsontypes", "rules", "structure", "violation"}
    assert set(validate.__all__) == public - modules


def test_rules_docstring_table_is_the_catalogue() -> None:
    assert rules.__doc__ is not None and markdown_table() in rules.__doc__


def test_catalogue_ids_are_unique_with_known_severities() -> None:
    assert len(BY_ID) == len(RULES)
    assert {r.severity for r in RULES} == {"error", "warning"}
    assert {"bdl-7", "bdl-9", "bdl-10", "bdl-11", "dgr-1", "cmp-1", "cmp-2", "dr-comp-author-org",
            "eu-imaging-composition-1", "eu-imaging-composition-2", "im-imagingstudy-01"} <= set(BY_ID)
    assert BY_ID["im-imagingstudy-01"].severity == "warning"


def test_unknown_rule_id_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        report("no-such-rule", "Bundle", "x")


@pytest.mark.parametrize(("data", "kind"), [
    ({"resourceType": "Bundle", "type": "document"}, BundleKind.DOCUMENT),
    ({"resourceType": "Bundle", "type": "collection", "meta": {"profile": [IG + "BundleReportEuImaging|1.0.0"]}},
     BundleKind.DOCUMENT),
    ({"resourceType": "Bundle", "type": "document", "meta": {"profile": [IG + "BundleReportMinimalMetadataEuImaging"]}},
     BundleKind.MINIMAL),
    ({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "DiagnosticReport"}}]},
     BundleKind.MINIMAL),
    ({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "DiagnosticReport"}},
                                                                {"resource": {"resourceType": "Composition"}}]},
     BundleKind.OTHER),
    ({"resourceType": "Bundle", "type": "searchset"}, BundleKind.OTHER),
    ({"resourceType": "ImagingStudy"}, BundleKind.RESOURCE),
])
def test_profile_detection_uses_meta_profile_then_type(data: dict[str, Any], kind: BundleKind) -> None:
    assert detect_kind(data) is kind


def test_a_single_imaging_study_file_gets_the_per_resource_rules(tmp_path: Path) -> None:
    study = imaging_study()
    study["series"][0]["modality"]["coding"][0]["system"] = "http://example.org/modality"
    path = tmp_path / "study.json"
    path.write_text(json.dumps(study), encoding="utf-8")
    # references (subject, performer actor) cannot be resolved outside a Bundle and are not reported
    assert [(v.rule, v.path) for v in validate_file(path)] == [
        ("eu-img-series-modality", "ImagingStudy.series[0].modality")]


def test_validate_file_accepts_a_path_string(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(build_minimal_bundle()), encoding="utf-8")
    assert validate_file(str(path)) == []


# -- reference resolution (FHIR R5 bundle.html#references) -----------------------------------------------------

def _unresolved(bundle: dict[str, Any]) -> list[str]:
    return [v.path for v in validate_bundle(bundle) if v.rule == "eu-img-reference-unresolved"]


def test_relative_reference_resolves_against_the_base_of_its_own_entry() -> None:
    bundle = build_document_bundle()
    org = bundle["entry"][5]
    org["fullUrl"] = "http://elsewhere.example/fhir/Organization/org-1"  # same Type/id, other server
    assert len(_unresolved(bundle)) == 3  # Composition.author, DR.performer, series performer actor


def test_absolute_reference_matches_the_full_url() -> None:
    bundle = build_document_bundle()
    bundle["entry"][1]["resource"]["subject"]["reference"] = "http://localhost/fhir/Patient/pat-1"
    assert validate_bundle(bundle) == []


def test_urn_references_must_match_a_full_url_exactly() -> None:
    bundle = build_minimal_bundle()
    bundle["entry"][0]["resource"]["subject"]["reference"] = "urn:uuid:2b0c6a56-0d5e-4d43-9a43-5b8a0f1e2cff"
    assert _unresolved(bundle) == ["Bundle.entry[0].resource.subject.reference"]


def test_relative_reference_inside_a_urn_bundle_matches_type_and_id() -> None:
    bundle = build_minimal_bundle()
    bundle["entry"][0]["resource"]["subject"]["reference"] = "Patient/pat-1"
    assert validate_bundle(bundle) == []


def test_contained_and_logical_references_are_not_resolved() -> None:
    bundle = build_document_bundle()
    observation = bundle["entry"][4]["resource"]
    observation["contained"] = [{"resourceType": "Device", "id": "d1", "parent": {"reference": "Device/absent"}}]
    observation["device"] = {"reference": "#d1"}
    observation["focus"] = [{"identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.3"}}]
    assert validate_bundle(bundle) == []


def test_valid_uncertain_period_and_data_absent_reason_pass() -> None:
    bundle = build_document_bundle()
    study, patient = bundle["entry"][3]["resource"], bundle["entry"][2]["resource"]
    study["started"] = "2024-03-01T10:00:00Z"
    study["_started"] = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/uncertainPeriod",
                                        "valuePeriod": {"start": "2024-03-01T10:00:00+12:00",
                                                        "end": "2024-03-01T10:00:00-12:00"}}]}
    del patient["birthDate"]
    patient["_birthDate"] = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                                            "valueCode": "unknown"}]}
    assert validate_bundle(bundle) == []

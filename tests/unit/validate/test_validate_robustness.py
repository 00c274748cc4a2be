"""Bad input never raises: it becomes violations (fhir-json, fhir-structure, rule ids), never an exception."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.validate import Violation, validate_bundle, validate_file, validate_resource
from bridge.validate.context import build_context
from bridge.validate.jsontypes import check_json_types
from bridge.validate.rules import run_checks
from tests.unit.validate.bundles import build_document_bundle


def rules(violations: list[Violation]) -> set[str]:
    return {v.rule for v in violations}


@pytest.mark.parametrize(("content", "message"), [
    (b"{not json", "invalid JSON"),
    (b"", "invalid JSON"),
    (b"\xff\xfe\x00garbage", "cannot read"),
    (b"[1, 2, 3]", "found a JSON array"),
    (b'"Bundle"', "found a JSON string"),
    (b"null", "found a JSON null"),
    (b"3.5", "found a JSON number"),
    (b'{"type": "document"}', "no resourceType"),
])
def test_unusable_file_is_one_fhir_json_violation(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(content)
    violations = validate_file(path)
    assert [v.rule for v in violations] == ["fhir-json"]
    assert message in violations[0].message
    assert violations[0].is_error


def test_missing_file_is_a_fhir_json_violation(tmp_path: Path) -> None:
    violations = validate_file(tmp_path / "absent.json")
    assert [v.rule for v in violations] == ["fhir-json"]


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + __import__("json").dumps(build_document_bundle()).encode())
    assert validate_file(path) == []


def test_json_array_passed_to_validate_bundle_is_a_violation() -> None:
    violations = validate_bundle([{"resourceType": "Bundle"}])  # type: ignore[arg-type]
    assert [v.rule for v in violations] == ["fhir-json"]


def test_wrong_typed_field_is_a_structure_violation_with_its_path() -> None:
    bundle = build_document_bundle()
    bundle["timestamp"] = 20240301
    bundle["entry"][2]["resource"]["birthDate"] = "1st of May"
    violations = [v for v in validate_bundle(bundle) if v.rule == "fhir-structure"]
    assert {v.path for v in violations} == {"Bundle.timestamp", "Bundle.entry[2].resource.birthDate"}


def test_a_resource_that_is_not_a_bundle_is_reported_and_validated_as_a_resource() -> None:
    patient = {"resourceType": "Patient", "name": [{"family": "Doe"}]}
    assert [(v.rule, v.path) for v in validate_bundle(patient)] == [
        ("fhir-structure", "$.resourceType"), ("eu-img-patient-birthdate", "Patient.birthDate")]


def test_unknown_resource_type_in_an_entry_does_not_hide_other_errors() -> None:
    bundle = build_document_bundle()
    bundle["entry"].append({"fullUrl": "http://localhost/fhir/Nonsense/1", "resource": {"resourceType": "Nonsense"}})
    bundle["entry"][2]["resource"]["gender"] = 3
    paths = {v.path for v in validate_bundle(bundle) if v.rule == "fhir-structure"}
    assert {"Bundle.entry[6].resource.resourceType", "Bundle.entry[2].resource.gender"} <= paths


@pytest.mark.parametrize("resource", [
    # fhir.resources enumerates Observation.status as registered, preliminary, final, amended, "+"
    {"resourceType": "Observation", "id": "x1", "status": "corrected", "code": {"text": "x"}},
    {"resourceType": "ServiceRequest", "id": "x1", "status": "active", "intent": "original-order",
     "subject": {"reference": "Patient/pat-1"}},
])
def test_child_codes_of_incomplete_enumerations_are_accepted(resource: dict[str, Any]) -> None:
    bundle = build_document_bundle()
    bundle["entry"].append({"fullUrl": f"http://localhost/fhir/{resource['resourceType']}/x1", "resource": resource})
    assert [v for v in validate_bundle(bundle) if v.rule == "fhir-structure"] == []


GARBAGE: list[Any] = [
    {"resourceType": "Bundle", "type": "document", "entry": "x"},
    {"resourceType": "Bundle", "type": "document", "entry": [1, "a", None, [], {}]},
    {"resourceType": "Bundle", "type": "document", "entry": [{"resource": 3}, {"resource": {"id": "x"}}]},
    {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "DiagnosticReport",
                                                                            "study": "x", "basedOn": [1]}}]},
    {"resourceType": "Bundle", "type": 7, "meta": {"profile": "x"}, "identifier": [], "entry": {}},
    {"resourceType": "Bundle", "type": "document", "entry": [{"fullUrl": 5, "resource": {
        "resourceType": "Composition", "section": "x", "subject": "Patient/1", "category": {"coding": "x"},
        "text": "plain", "extension": {"url": 1}}}]},
    {"resourceType": "Bundle", "type": "document", "entry": [{"fullUrl": "urn:uuid:x", "resource": {
        "resourceType": "Composition", "section": [{"section": [{"section": [{"text": {"div": 5}}]}]}],
        "contained": [{"resourceType": "Nope"}]}}]},
    {"resourceType": "ImagingStudy", "series": {"instance": "x"}, "identifier": ["urn:oid:1"],
     "_started": [{"extension": 1}], "extension": [{"url": "x"}, 3]},
    {"resourceType": "ImagingStudy", "series": [{"performer": [{"function": 1, "actor": "x"}],
                                                 "instance": [{"uid": 1, "sopClass": "x"}], "uid": None}]},
    {"resourceType": "Observation", "code": {"coding": [{"system": "http://loinc.org", "code": "73569-6"}]},
     "derivedFrom": "x", "valueQuantity": {"value": 1}},
    {"resourceType": "DocumentReference", "content": "x",
     "meta": {"profile": ["http://hl7.eu/fhir/imaging-r5/StructureDefinition/DocumentReferenceImagingReport"]}},
    {"resourceType": "Patient", "name": "Doe", "_birthDate": [], "birthDate": 1970},
    {"resourceType": "Composition", "text": {"status": "generated", "div": "<!DOCTYPE x><div/>"}},
]


@pytest.mark.parametrize("data", GARBAGE)
def test_garbage_gives_violations_not_exceptions(data: Any) -> None:
    violations = validate_resource(copy.deepcopy(data))
    assert violations
    assert any(v.is_error for v in violations)
    assert "eu-img-rule-failed" not in rules(violations), [str(v) for v in violations]


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*path, i))


def _replaced(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    copied = copy.deepcopy(data)
    node = copied
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return copied


def test_every_element_replaced_by_a_wrong_type_never_breaks_a_rule() -> None:
    """Systematic fuzz: each element of a valid bundle, in turn, becomes a number, a string, and an object."""
    bundle = build_document_bundle(instances=1)
    failures: list[str] = []
    for path in list(_paths(bundle))[1:]:
        for value in (7, "x", {"k": [None]}):
            mutated = _replaced(bundle, path, value)
            list(check_json_types(mutated))  # the pydantic parse itself is exercised by the GARBAGE cases
            found = run_checks(build_context(mutated))
            failures += [f"{path} := {value!r}: {v}" for v in found if v.rule == "eu-img-rule-failed"]
    assert failures == []


def test_a_failing_rule_becomes_a_violation_and_the_others_still_run() -> None:
    def check_explodes(ctx: Any) -> Iterator[Violation]:
        raise RuntimeError("boom")
        yield  # pragma: no cover

    def check_fine(ctx: Any) -> Iterator[Violation]:
        yield Violation("bdl-7", "Bundle", "still here", "error")

    ctx = build_context(build_document_bundle())
    found = list(run_checks(ctx, (check_explodes, check_fine)))
    assert [v.rule for v in found] == ["eu-img-rule-failed", "bdl-7"]
    assert "check_explodes failed: RuntimeError: boom" in found[0].message

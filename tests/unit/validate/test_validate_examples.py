"""The guide's own example bundles (../shared/fhir/eu-imaging-examples, see its NOTICE.md)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bridge.validate import validate_file

_STEP = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def at(data: Any, path: str) -> Any:
    """The value a violation path such as "Bundle.entry[0].resource.section[2]" names (the root name is skipped)."""
    node = data
    for name, index in _STEP.findall(path.split(".", 1)[1] if "." in path else ""):
        node = node[int(index)] if index else node[name]
    return node


def load(examples_dir: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((examples_dir / name).read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("name", [
    "Bundle-bundle-report-semi-structured.json",
    "Bundle-bundle-report-minimal-metadata-unstructured.json",
])
def test_conformant_guide_example_has_no_errors(examples_dir: Path, name: str) -> None:
    violations = validate_file(examples_dir / name)
    assert [str(v) for v in violations if v.is_error] == []


def test_minimal_example_only_warns_about_the_study_uid_prefix(examples_dir: Path) -> None:
    # §4.3: its Study Instance UID has no urn:oid: prefix; im-imagingstudy-01 is a warning
    violations = validate_file(examples_dir / "Bundle-bundle-report-minimal-metadata-unstructured.json")
    assert [(v.rule, v.path) for v in violations] == [
        ("im-imagingstudy-01", "Bundle.entry[0].resource.study[0].identifier.value")]


def test_structured_example_has_exactly_its_documented_defects(examples_dir: Path) -> None:
    name = "Bundle-bundle-report-structured.json"
    bundle = load(examples_dir, name)
    errors = [v for v in validate_file(examples_dir / name) if v.is_error]

    assert Counter(v.rule for v in errors) == {"dgr-1": 6, "eu-img-section-text": 3}

    # dgr-1: the 4 history vitals and RestWmsi11/StressWmsi11 are section entries missing from DR.result
    dgr = [v for v in errors if v.rule == "dgr-1"]
    referenced = {at(bundle, v.path)["reference"] for v in dgr}
    assert referenced == {"Observation/WeightObservation", "Observation/HeightObservation", "Observation/BPObservation",
                          "Observation/HRObservation", "Observation/RestWmsi11", "Observation/StressWmsi11"}
    assert all(v.path.startswith("Bundle.entry[0].resource.section[") for v in dgr)
    assert all(at(bundle, v.path.split(".section[")[0])["resourceType"] == "Composition" for v in dgr)
    result = {r["reference"] for r in at(bundle, "Bundle.entry[1].resource")["result"]}
    assert not referenced & result

    # three sections without narrative: Imaging Study, Findings, Recommendations
    missing_text = [at(bundle, v.path.removesuffix(".text")) for v in errors if v.rule == "eu-img-section-text"]
    assert sorted(s["code"]["coding"][0]["code"] for s in missing_text) == ["18726-0", "18783-1", "59776-5"]
    assert all("text" not in s for s in missing_text)


def test_semi_structured_example_warnings_are_obligations_only(examples_dir: Path) -> None:
    violations = validate_file(examples_dir / "Bundle-bundle-report-semi-structured.json")
    assert {v.rule for v in violations} == {"eu-img-study-populate"}
    assert all(v.severity == "warning" for v in violations)

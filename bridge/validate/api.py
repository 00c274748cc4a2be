"""validate_bundle / validate_resource / validate_file: structure parse, then the rules; never raises on bad input."""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path
from typing import Any

from bridge.validate.context import build_context
from bridge.validate.rules import run_checks
from bridge.validate.rules.catalogue import report
from bridge.validate.structure import check_structure
from bridge.validate.violation import Violation


def _json_kind(data: object) -> str:
    """The JSON name of a parsed value's type."""
    if data is None:
        return "null"
    if isinstance(data, bool):
        return "boolean"
    if isinstance(data, int | float):
        return "number"
    if isinstance(data, list):
        return "array"
    if isinstance(data, str):
        return "string"
    return "object" if isinstance(data, dict) else type(data).__name__


def _not_an_object(data: object) -> list[Violation]:
    return [report("fhir-json", "$", f"expected a JSON object with a resourceType, found a JSON {_json_kind(data)}")]


def validate_resource(data: dict[str, Any]) -> list[Violation]:
    """Validate any parsed FHIR resource: a Bundle gets every rule, another resource its per-resource rules.

    Per-resource rules are those that need no other entry (ImagingStudy, Patient, DocumentReference wrapper,
    dose Observation, narrative, data types...); references are not resolved outside a Bundle.
    """
    if not isinstance(data, dict):
        return _not_an_object(data)
    if not isinstance(data.get("resourceType"), str) or not data["resourceType"]:
        return [report("fhir-json", "$.resourceType", "the JSON object has no resourceType: not a FHIR resource")]
    violations: list[Violation] = []
    try:
        violations.extend(check_structure(data))
        violations.extend(run_checks(build_context(data)))
    except Exception as exc:  # noqa: BLE001 - a validator defect must not crash the CLI; it is reported instead
        root = data["resourceType"]
        violations.append(report("eu-img-rule-failed", root, f"validation stopped: {type(exc).__name__}: {exc}"))
    return violations


def validate_bundle(data: dict[str, Any]) -> list[Violation]:
    """Validate the parsed JSON of a report Bundle: structure parse (`fhir-structure`), then all rules.

    Anything that is not a Bundle yields one `fhir-structure` violation and is then validated as a resource.
    """
    if not isinstance(data, dict):
        return _not_an_object(data)
    if data.get("resourceType") != "Bundle":
        found = data.get("resourceType")
        return [report("fhir-structure", "$.resourceType", f"expected a Bundle, found resourceType {found!r}"),
                *validate_resource(data)]
    return validate_resource(data)


def validate_file(path: str | PathLike[str]) -> list[Violation]:
    """Read a JSON file and validate it (a Bundle, or a single resource); unreadable or invalid JSON → `fhir-json`."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return [report("fhir-json", "$", f"cannot read {path}: {exc}")]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [report("fhir-json", "$", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")]
    except RecursionError:
        return [report("fhir-json", "$", "JSON nested too deeply")]
    return validate_resource(data)

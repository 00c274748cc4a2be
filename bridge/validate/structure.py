"""Strict structural parse with fhir.resources (R5): every pydantic error becomes one `fhir-structure` violation.

A Bundle is parsed entry by entry (each resource with its own model class) and then as a shell without the
entry resources. This keeps an unknown resourceType in one entry (which makes fhir.resources raise a bare
KeyError) from hiding the errors of the others, and gives each error a path rooted at its entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

from fhir.resources import get_fhir_model_class
from pydantic import ValidationError

from bridge.validate.context import Obj, string
from bridge.validate.jsontypes import check_json_types
from bridge.validate.rules.catalogue import report
from bridge.validate.violation import Violation

RULE: Final = "fhir-structure"
_ELEMENT_NAME: Final = re.compile(r"_?[A-Za-z][A-Za-z0-9_]*")
_PYDANTIC_ONLY_STEPS: Final = frozenset({"root"})


def loc_to_path(root: str, loc: tuple[int | str, ...]) -> str:
    """FHIR-style path from a pydantic error location; pydantic-internal steps (union tags, `root`) are dropped."""
    path = root
    for step in loc:
        if isinstance(step, int):
            path += f"[{step}]"
        elif _ELEMENT_NAME.fullmatch(step) and step not in _PYDANTIC_ONLY_STEPS:
            path += f".{step}"
    return path


def _parse(resource_type: str, data: Obj, root: str) -> Iterator[Violation]:
    """Validate one resource object against its fhir.resources model class."""
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, TypeError):
        yield report(RULE, f"{root}.resourceType", f"unknown resourceType {resource_type!r}")
        return
    try:
        model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            yield report(RULE, loc_to_path(root, tuple(error["loc"])), str(error["msg"]))
    except Exception as exc:  # noqa: BLE001 - fhir.resources raises KeyError etc. on unknown contained types
        yield report(RULE, root, f"fhir.resources could not parse the resource: {type(exc).__name__}: {exc}")


def check_structure(data: Obj) -> list[Violation]:
    """Strictly parse a Bundle (entry by entry, then the shell) or a single resource, then check JSON typing.

    The JSON-typing findings (`bridge.validate.jsontypes`) on a path the parse already reported are dropped.
    """
    parsed = list(_check_parse(data))
    reported = {v.path for v in parsed}
    return parsed + [v for v in check_json_types(data) if v.path not in reported]


def _check_parse(data: Obj) -> Iterator[Violation]:
    """The pydantic parse of `check_structure`."""
    resource_type = data.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        yield report(RULE, "$", "the JSON object has no resourceType")
        return
    if resource_type != "Bundle":
        yield from _parse(resource_type, data, resource_type)
        return
    shell: dict[str, Any] = dict(data)
    entries = data.get("entry")
    if isinstance(entries, list):
        shell_entries: list[Any] = []
        for i, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                shell_entries.append(entry)  # let the Bundle model report the wrong type
                continue
            root = f"Bundle.entry[{i}].resource"
            rtype = string(resource.get("resourceType"))
            if rtype is None:
                yield report(RULE, root, "the resource has no resourceType")
            else:
                yield from _parse(rtype, resource, root)
            shell_entries.append({k: v for k, v in entry.items() if k != "resource"})
        shell["entry"] = shell_entries
    yield from _parse("Bundle", shell, "Bundle")

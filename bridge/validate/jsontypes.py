"""FHIR JSON typing that the pydantic parse lets through, read from the fhir.resources models.

fhir.resources coerces lax input (`"1"` for an integer, `"true"` for a boolean, a number for an instant) and
does not check required code bindings. The FHIR JSON format does not allow that, so this walk checks, element by
element against the model's field types: the JSON type of each primitive (boolean, number, string; integer64 is a
string), code values against the model's `enum_values` (required bindings), `null` outside primitive arrays, and
empty objects and arrays (core invariant ele-1: every element has a value or children).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from functools import cache
from typing import Any, Final

from fhir.resources import get_fhir_model_class
from pydantic.fields import FieldInfo

from bridge.validate.rules.catalogue import report
from bridge.validate.violation import Violation

_INTEGERS: Final = frozenset({"Integer", "PositiveInt", "UnsignedInt"})


class _Field(typing.NamedTuple):
    repeats: bool
    kind: str  # "boolean" | "integer" | "decimal" | "string" | "complex" | "resource"
    model: str | None  # model class name for "complex"
    codes: frozenset[str] | None  # enum_values of a code with a required binding


def _unwrap(annotation: Any) -> tuple[bool, Any]:
    """(repeats, item annotation) with Optional and List removed."""
    repeats = False
    while True:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return repeats, annotation
        elif origin is list:
            repeats = True
            annotation = typing.get_args(annotation)[0]
        else:
            return repeats, annotation


def _classify(info: FieldInfo) -> _Field | None:
    repeats, item = _unwrap(info.annotation)
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    enum = extra.get("enum_values")
    codes = frozenset(str(c) for c in enum) if isinstance(enum, list) else None
    if codes is not None and "+" in codes:  # the generator's "and the child codes" marker: the list is incomplete
        codes = None
    if item is bool:
        return _Field(repeats, "boolean", None, None)
    if typing.get_origin(item) is typing.Annotated:
        names = {type(meta).__name__ for meta in typing.get_args(item)[1:]}
        if names & _INTEGERS:
            return _Field(repeats, "integer", None, None)
        if "Decimal" in names:
            return _Field(repeats, "decimal", None, None)
        return _Field(repeats, "string", None, codes)
    name = getattr(item, "__name__", "")
    if name == "ResourceType":
        return _Field(repeats, "resource", None, None)
    if name.endswith("Type"):
        return _Field(repeats, "complex", name.removesuffix("Type"), None)
    return None


@cache
def _fields(model_name: str) -> dict[str, _Field] | None:
    """JSON name → field description for a fhir.resources model, or None if the model is unknown."""
    try:
        model = get_fhir_model_class(model_name)
    except (KeyError, ValueError, TypeError):
        return None
    found: dict[str, _Field] = {}
    for name, info in model.model_fields.items():
        described = _classify(info)
        if described is not None:
            found[info.alias or name] = described
    return found


def _json_type_ok(kind: str, value: Any) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "decimal":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


def _check_object(model_name: str, data: dict[str, Any], path: str) -> Iterator[Violation]:
    fields = _fields(model_name)
    if not data:
        yield report("ele-1", path, "empty object: an element needs a value or children")
    if fields is None:
        return
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            continue  # unknown elements are reported by the pydantic parse
        item_path = f"{path}.{key}"
        if value is None:
            yield report("fhir-structure", item_path, "null is not allowed here in FHIR JSON")
        elif isinstance(value, list) and field.repeats:
            if not value:
                yield report("ele-1", item_path, "empty array: omit the element instead")
            partner = data.get(f"_{key}") if not key.startswith("_") else data.get(key[1:])
            for i, item in enumerate(value):
                if item is None:
                    if not _has_partner(partner, i):
                        yield report("fhir-structure", f"{item_path}[{i}]",
                                     "null in an array is only allowed to align a primitive with its extensions")
                    continue
                yield from _check_value(field, item, f"{item_path}[{i}]")
        elif not isinstance(value, list) and not field.repeats:
            yield from _check_value(field, value, item_path)


def _has_partner(partner: Any, index: int) -> bool:
    return isinstance(partner, list) and index < len(partner) and partner[index] is not None


def _check_value(field: _Field, value: Any, path: str) -> Iterator[Violation]:
    if field.kind == "complex" and field.model is not None:
        if isinstance(value, dict):
            yield from _check_object(field.model, value, path)
    elif field.kind == "resource":
        if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
            yield from _check_object(value["resourceType"], value, path)
    elif not _json_type_ok(field.kind, value):
        shown = {"boolean": "true or false", "integer": "a JSON integer", "decimal": "a JSON number"}
        yield report("fhir-structure", path,
                     f"must be {shown.get(field.kind, 'a JSON string')}, found {type(value).__name__} {value!r}")
    elif field.codes is not None and value not in field.codes:
        yield report("fhir-structure", path, f"code {value!r} is not in the required value set "
                                             f"({', '.join(sorted(field.codes))})")


def check_json_types(data: dict[str, Any]) -> Iterator[Violation]:
    """Walk a parsed resource (a Bundle with its entries included) against its fhir.resources model."""
    resource_type = data.get("resourceType")
    if isinstance(resource_type, str):
        yield from _check_object(resource_type, data, resource_type)

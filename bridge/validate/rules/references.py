"""Reference rules: every literal reference resolves inside the bundle and lands on a resource of the right type."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from bridge.validate.context import Context, Entry, indexed, obj, split_restful, string
from bridge.validate.rules.catalogue import report
from bridge.validate.violation import Violation

# (resource type, element) -> allowed target types, from the guide's `only` rules (§2.3-§2.6) and R5 core.
_TARGETS: Final[dict[tuple[str, str], frozenset[str]]] = {
    ("Composition", "subject"): frozenset({"Patient"}),  # §2.3 subject 1..1, the report's patient
    ("DiagnosticReport", "subject"): frozenset({"Patient"}),  # §2.4 only patient-eu-core
    ("DiagnosticReport", "composition"): frozenset({"Composition"}),
    ("DiagnosticReport", "study"): frozenset({"ImagingStudy"}),  # §2.4 only ImagingStudyEuImaging
    ("DiagnosticReport", "result"): frozenset({"Observation"}),
    ("ImagingStudy", "subject"): frozenset({"Patient", "Device"}),  # §2.5
    ("ImagingSelection", "subject"): frozenset({"Patient"}),  # §2.6
}


def check_references_resolve(ctx: Context) -> Iterator[Violation]:
    """Every literal reference outside `contained` resolves to an entry (R5 document rule; checklist §10.3).

    Identifier-only (logical) references and `#contained` references are not checked.
    """
    if not ctx.in_bundle:
        return
    for entry in ctx.entries:
        for ref in entry.refs:
            reference = ref.reference
            if reference is None or reference.startswith("#"):
                continue
            if ctx.resolve_string(reference, entry) is None:
                yield report("eu-img-reference-unresolved", f"{ref.path}.reference",
                             f"reference {reference!r} does not resolve to an entry of the bundle")


def _type_of_reference(reference: str) -> str | None:
    """The resource type named by a RESTful or relative reference string."""
    parts = split_restful(reference)
    return parts[1] if parts else None


def check_reference_types(ctx: Context) -> Iterator[Violation]:
    """A resolved reference's target agrees with Reference.type and with the Type in `Type/id`."""
    if not ctx.in_bundle:
        return
    for entry in ctx.entries:
        for ref in entry.refs:
            target = ctx.resolve(ref.value, entry)
            if target is None:
                continue
            declared = string(ref.value.get("type"))
            named = _type_of_reference(ref.reference or "")
            for claimed, what in ((declared, "Reference.type"), (named, "the reference")):
                if claimed is not None and claimed != target.type and "://" not in claimed:
                    yield report("eu-img-reference-target", ref.path,
                                 f"{what} says {claimed} but {ref.reference!r} resolves to {target.label}")


def _element_targets(ctx: Context, entry: Entry) -> Iterator[tuple[str, Entry, frozenset[str]]]:
    for (rtype, element), allowed in _TARGETS.items():
        if entry.type != rtype:
            continue
        value = entry.resource.get(element)
        items = indexed(value) if isinstance(value, list) else [(None, obj(value))]
        for i, ref in items:
            target = ctx.resolve(ref, entry)
            if target is not None:
                path = f"{entry.path}.{element}" + (f"[{i}]" if i is not None else "")
                yield path, target, allowed


def check_element_targets(ctx: Context) -> Iterator[Violation]:
    """Elements the guide restricts (`only Reference(X)`) resolve to that resource type."""
    if not ctx.in_bundle:
        return
    for entry in ctx.entries:
        for path, target, allowed in _element_targets(ctx, entry):
            if target.type not in allowed:
                yield report("eu-img-reference-target", path,
                             f"must reference {' or '.join(sorted(allowed))}, resolves to {target.label}")


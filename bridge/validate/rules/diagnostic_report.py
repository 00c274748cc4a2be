"""DiagnosticReport rules (§2.4): categories, composition link, result, core dgr-1, DR content mirrored in sections."""

from __future__ import annotations

from collections.abc import Iterator

from bridge.validate import codes
from bridge.validate.context import BundleKind, Context, Entry, Obj, dicts, indexed, obj, string
from bridge.validate.rules.catalogue import report
from bridge.validate.rules.composition import category_violations
from bridge.validate.rules.sections import iter_sections
from bridge.validate.violation import Violation


def _reports(ctx: Context) -> tuple[Entry, ...]:
    return ctx.of_type("DiagnosticReport")


def check_report_category(ctx: Context) -> Iterator[Violation]:
    """DiagnosticReport.category carries LOINC 85430-7 and Medical-Imaging (shared RuleSet, §2.4; §10.5)."""
    for entry in _reports(ctx):
        yield from category_violations("eu-img-dr-category", entry)


def check_report_composition(ctx: Context) -> Iterator[Violation]:
    """In a document, DiagnosticReport.composition (1..1) references the bundle's Composition (§2.4; §10.4)."""
    composition = ctx.composition
    if ctx.kind is not BundleKind.DOCUMENT:
        return
    for entry in _reports(ctx):
        ref = entry.resource.get("composition")
        if not isinstance(ref, dict):
            yield report("eu-img-dr-composition", f"{entry.path}.composition", f"{entry.label} has no composition")
            continue
        target = ctx.resolve(ref, entry)
        if target is None or target is not composition:
            shown = string(ref.get("reference")) or "(no literal reference)"
            yield report("eu-img-dr-composition", f"{entry.path}.composition",
                         f"composition {shown!r} is not the bundle's Composition")


def check_report_result(ctx: Context) -> Iterator[Violation]:
    """In a document, DiagnosticReport.result has at least one entry (§2.4 result 1..*; §10.4)."""
    if ctx.kind is not BundleKind.DOCUMENT:
        return
    for entry in _reports(ctx):
        if not dicts(entry.resource.get("result")):
            yield report("eu-img-dr-result", f"{entry.path}.result",
                         f"{entry.label} has no result (DiagnosticReportEuImaging requires 1..*)")


def _result_keys(ctx: Context, entry: Entry) -> set[str]:
    """Targets of DR.result and of the hasMember of each resolved result (the right-hand side of dgr-1)."""
    keys: set[str] = set()
    for ref in dicts(entry.resource.get("result")):
        keys |= ctx.ref_keys(ref, entry)
        target = ctx.resolve(ref, entry)
        if target is not None:
            for member in dicts(target.resource.get("hasMember")):
                keys |= ctx.ref_keys(member, target)
    return keys


def check_dgr_1(ctx: Context) -> Iterator[Violation]:
    """dgr-1: every Observation referenced from a section of the report's Composition is in result (or hasMember).

    Compares resolved targets rather than reference strings, and includes sub-sections.
    """
    if not ctx.in_bundle:
        return
    for entry in _reports(ctx):
        composition = ctx.resolve(entry.resource.get("composition"), entry)
        if composition is None or composition.type != "Composition":
            continue
        results = _result_keys(ctx, entry)
        for path, section, _ in iter_sections(composition):
            for i, ref in indexed(section.get("entry")):
                target = ctx.resolve(ref, composition)
                if target is None or target.type != "Observation":
                    continue
                if not ctx.ref_keys(ref, composition) & results:
                    name = string(section.get("title")) or "section"
                    yield report("dgr-1", f"{path}.entry[{i}]",
                                 f"{target.label} is referenced from section {name!r} but is not in "
                                 f"{entry.label}.result")


def _idr_references(entry: Entry) -> Iterator[tuple[str, Obj]]:
    """(path, Reference) of the IHE-IDR-style extensions (comparison, patientHistory, procedure, ...; §2.4)."""
    for i, ext in indexed(entry.resource.get("extension")):
        url = string(ext.get("url")) or ""
        if url.startswith(codes.EXT_IDR_PREFIX) and isinstance(ext.get("valueReference"), dict):
            yield f"{entry.path}.extension[{i}].valueReference", ext["valueReference"]


def check_report_content_in_composition(ctx: Context) -> Iterator[Violation]:
    """DR.basedOn, DR.result and the IDR extension references also appear in the Composition (§2.4; §10.8).

    "All structured data present in the DiagnosticReport SHALL also be present in the Composition": as a section
    entry, or for basedOn also as the Composition's event-basedOn extension.
    """
    composition = ctx.composition
    if ctx.kind is not BundleKind.DOCUMENT or composition is None:
        return
    in_sections: set[str] = set()
    for _, section, _ in iter_sections(composition):
        for ref in dicts(section.get("entry")):
            in_sections |= ctx.ref_keys(ref, composition)
    based_on = set(in_sections)
    for ext in dicts(composition.resource.get("extension")):
        if ext.get("url") == codes.EXT_EVENT_BASED_ON:
            based_on |= ctx.ref_keys(ext.get("valueReference"), composition)
    for entry in _reports(ctx):
        items: list[tuple[str, Obj, set[str]]] = []
        items += [(f"{entry.path}.basedOn[{i}]", ref, based_on) for i, ref in indexed(entry.resource.get("basedOn"))]
        items += [(f"{entry.path}.result[{i}]", ref, in_sections) for i, ref in indexed(entry.resource.get("result"))]
        items += [(path, ref, in_sections) for path, ref in _idr_references(entry)]
        for path, ref, allowed in items:
            keys = ctx.ref_keys(ref, entry)
            if keys and not keys & allowed:
                shown = string(ref.get("reference")) or str(obj(ref.get("identifier")).get("value"))
                yield report("eu-img-dr-in-composition", path,
                             f"{shown!r} is in the DiagnosticReport but in no Composition section")

"""Accession number rules (§2.13 AccessionNumberIdentifierEuImaging, §2.8, §2.18; checklist §10.10).

`basedOn` of DiagnosticReport, ImagingStudy, Observation and DocumentReference, and the Composition's
event-basedOn extension, point to the order (ServiceRequestOrderEuImaging) and must carry its accession number
as identifier. A basedOn counts as pointing to the order when it says or resolves to ServiceRequest, or when it
is an untyped identifier-only reference (the examples' ImagingStudy.basedOn).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from bridge.validate import codes
from bridge.validate.context import Context, Entry, Obj, dicts, has_coding, indexed, profiles, split_restful, string
from bridge.validate.rules.catalogue import report
from bridge.validate.rules.sections import iter_sections, loinc_code
from bridge.validate.violation import Violation

_BASED_ON_OWNERS: Final = frozenset({"DiagnosticReport", "ImagingStudy", "Observation", "DocumentReference"})


def _order_references(entry: Entry) -> Iterator[tuple[str, Obj]]:
    """(path, Reference) of the references that carry the order's accession number in `entry`."""
    if entry.type in _BASED_ON_OWNERS:
        for i, ref in indexed(entry.resource.get("basedOn")):
            yield f"{entry.path}.basedOn[{i}]", ref
    if entry.type == "Composition":
        for i, ext in indexed(entry.resource.get("extension")):
            if ext.get("url") == codes.EXT_EVENT_BASED_ON and isinstance(ext.get("valueReference"), dict):
                yield f"{entry.path}.extension[{i}].valueReference", ext["valueReference"]


def _is_order_reference(ctx: Context, ref: Obj, source: Entry) -> bool:
    target = ctx.resolve(ref, source)
    if target is not None:
        return target.type == "ServiceRequest"
    declared = string(ref.get("type"))
    named = split_restful(string(ref.get("reference")) or "")
    if declared is not None:
        return declared == "ServiceRequest"
    if named is not None:
        return named[1] == "ServiceRequest"
    return "reference" not in ref and isinstance(ref.get("identifier"), dict)


def accession_problems(identifier: object) -> list[str]:
    """What an AccessionNumberIdentifierEuImaging lacks: system, value, type v2-0203#ACSN (empty if conformant)."""
    if not isinstance(identifier, dict):
        return ["an identifier (the accession number)"]
    problems = [name for name in ("system", "value") if not string(identifier.get(name))]
    if not has_coding(identifier.get("type"), codes.TYPE_ACCESSION_ACSN):
        problems.append(f"type {codes.V2_0203}#ACSN")
    return problems


def check_accession_identifiers(ctx: Context) -> Iterator[Violation]:
    """Every reference to the order carries an accession identifier with system, value and ACSN type."""
    for entry in ctx.entries:
        for path, ref in _order_references(entry):
            if not _is_order_reference(ctx, ref, entry):
                continue
            problems = accession_problems(ref.get("identifier"))
            if problems:
                yield report("eu-img-accession-identifier", f"{path}.identifier",
                             f"the reference to the order lacks {', '.join(problems)}")


def _orders(ctx: Context) -> list[Entry]:
    """ServiceRequests acting as the order: referenced from basedOn or section[order], or claiming the profile."""
    found: dict[int, Entry] = {}
    for entry in ctx.entries:
        if entry.type == "ServiceRequest" and codes.PROFILE_ORDER in profiles(entry.resource):
            found[id(entry)] = entry
        for _, ref in _order_references(entry):
            target = ctx.resolve(ref, entry)
            if target is not None and target.type == "ServiceRequest":
                found[id(target)] = target
        if entry.type == "Composition":
            for _, section, top in iter_sections(entry):
                if top and loinc_code(section) == codes.SECTION_ORDER:
                    for ref in dicts(section.get("entry")):
                        target = ctx.resolve(ref, entry)
                        if target is not None and target.type == "ServiceRequest":
                            found[id(target)] = target
    return sorted(found.values(), key=lambda e: e.index if e.index is not None else -1)


def check_orders(ctx: Context) -> Iterator[Violation]:
    """The order ServiceRequest: category[imaging] SNOMED 363679005 (error), accession identifier (warning)."""
    for entry in _orders(ctx):
        categories = entry.resource.get("category")
        if not any(has_coding(c, codes.ORDER_CATEGORY_IMAGING) for c in dicts(categories)):
            yield report("eu-img-order-category", f"{entry.path}.category",
                         f"{entry.label} is the order but lacks category {codes.SNOMED}#363679005 (Imaging)")
        accessions = [(i, ident) for i, ident in indexed(entry.resource.get("identifier"))
                      if has_coding(ident.get("type"), codes.TYPE_ACCESSION_ACSN)]
        if not accessions:
            yield report("eu-img-order-accession", f"{entry.path}.identifier",
                         f"{entry.label} is the order but has no accession number identifier (type ACSN)")
        for i, ident in accessions:
            problems = accession_problems(ident)
            if problems:
                yield report("eu-img-accession-identifier", f"{entry.path}.identifier[{i}]",
                             f"the accession number identifier lacks {', '.join(problems)}")


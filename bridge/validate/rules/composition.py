"""Composition header rules (§2.3): categories, diagnostic service, narrative presence, author organisation."""

from __future__ import annotations

from collections.abc import Iterator

from bridge.validate import codes
from bridge.validate.context import BundleKind, Context, Entry, any_has_coding, dicts, identifier_key, indexed, string
from bridge.validate.rules.catalogue import report
from bridge.validate.violation import Violation


def category_violations(rule: str, entry: Entry) -> Iterator[Violation]:
    """The category slices `imaging-report` (LOINC 85430-7) and `imaging` (Medical-Imaging), both 1..1."""
    categories = entry.resource.get("category")
    for pair, slice_name in ((codes.CATEGORY_IMAGING_REPORT, "imaging-report"),
                             (codes.CATEGORY_MEDICAL_IMAGING, "imaging")):
        if not any_has_coding(categories, pair):
            yield report(rule, f"{entry.path}.category",
                         f"{entry.label} lacks category[{slice_name}] = {pair[0]}#{pair[1]}")


def check_composition_category(ctx: Context) -> Iterator[Violation]:
    """Composition.category carries both mandatory report codings (§2.3; checklist §10.5)."""
    composition = ctx.composition
    if ctx.kind in {BundleKind.DOCUMENT, BundleKind.RESOURCE} and composition is not None:
        yield from category_violations("eu-img-composition-category", composition)


def check_diagnostic_service(ctx: Context) -> Iterator[Violation]:
    """v2-0074 category codings of Composition and DiagnosticReport are in diagnostic-service-sections (§2.3, §2.4)."""
    for entry in ctx.of_type("Composition") + ctx.of_type("DiagnosticReport"):
        for i, category in indexed(entry.resource.get("category")):
            for j, coding in indexed(category.get("coding")):
                code = string(coding.get("code"))
                if coding.get("system") == codes.V2_0074 and code not in codes.DIAGNOSTIC_SERVICE_SECTIONS:
                    yield report("eu-img-diagnostic-service", f"{entry.path}.category[{i}].coding[{j}]",
                                 f"{coding.get('code')!r} is not in diagnostic-service-sections (v2-0074)")


def check_composition_text(ctx: Context) -> Iterator[Violation]:
    """Composition.text is present: with section.text it is the rendered document (§2.21)."""
    for entry in ctx.of_type("Composition"):
        if not isinstance(entry.resource.get("text"), dict):
            yield report("eu-img-composition-text", f"{entry.path}.text", f"{entry.label} has no narrative text")


def _organizations(ctx: Context, entry: Entry, element: str) -> set[str]:
    """Keys of the Organizations an element references (resolved entries, or logical Organization references)."""
    found: set[str] = set()
    for ref in dicts(entry.resource.get(element)):
        target = ctx.resolve(ref, entry)
        if target is not None:
            if target.type == "Organization":
                found.add(f"entry:{target.index}")
        elif ref.get("type") == "Organization":
            key = identifier_key(ref.get("identifier")) or string(ref.get("reference"))
            if key:
                found.add(key)
    return found


def check_author_organization(ctx: Context) -> Iterator[Violation]:
    """dr-comp-author-org: the Organizations of DR.performer equal those of Composition.author, or both are none."""
    composition, report_entry = ctx.composition, ctx.report
    if ctx.kind is not BundleKind.DOCUMENT or composition is None or report_entry is None:
        return
    performers = _organizations(ctx, report_entry, "performer")
    authors = _organizations(ctx, composition, "author")
    if performers != authors:
        detail = ", ".join(sorted(_describe(ctx, key) for key in performers ^ authors))
        yield report("dr-comp-author-org", f"{report_entry.path}.performer",
                     f"Organizations in DiagnosticReport.performer and Composition.author differ ({detail})")


def _describe(ctx: Context, key: str) -> str:
    """A readable name for an organisation key: the entry's Type/id, else the identifier or reference."""
    if key.startswith("entry:"):
        index = int(key.removeprefix("entry:"))
        return next((e.label for e in ctx.entries if e.index == index), key)
    return key


"""Composition.section rules (§2.3): core cmp-1/cmp-2, the guide's section invariants, slices, text, studies."""

from __future__ import annotations

from collections.abc import Iterator

from bridge.validate import codes
from bridge.validate.context import BundleKind, Context, Entry, Obj, dicts, indexed, obj, string
from bridge.validate.rules.catalogue import report
from bridge.validate.rules.imaging_study import points_to_study
from bridge.validate.violation import Violation


def iter_sections(entry: Entry) -> Iterator[tuple[str, Obj, bool]]:
    """(path, section, is_top_level) for every section and sub-section of a Composition, depth first."""
    stack: list[tuple[str, Obj, bool]] = [
        (f"{entry.path}.section[{i}]", s, True) for i, s in reversed(indexed(entry.resource.get("section")))
    ]
    while stack:
        path, section, top = stack.pop()
        yield path, section, top
        stack.extend((f"{path}.section[{i}]", s, False) for i, s in reversed(indexed(section.get("section"))))


def loinc_code(section: Obj) -> str | None:
    """The section's LOINC code, if it has one."""
    for coding in dicts(obj(section.get("code")).get("coding")):
        if coding.get("system") == codes.LOINC and string(coding.get("code")):
            return str(coding["code"])
    return None


def _compositions(ctx: Context) -> tuple[Entry, ...]:
    return ctx.of_type("Composition") if ctx.kind in {BundleKind.DOCUMENT, BundleKind.RESOURCE} else ()


def _has_note(section: Obj) -> bool:
    """A `note` extension whose Annotation has text (the third way out of eu-imaging-composition-1)."""
    return any(ext.get("url") == codes.EXT_NOTE and string(obj(ext.get("valueAnnotation")).get("text"))
               for ext in dicts(section.get("extension")))


def _name(section: Obj) -> str:
    return string(section.get("title")) or loinc_code(section) or "(no code)"


def check_section_invariants(ctx: Context) -> Iterator[Violation]:
    """cmp-1 / eu-imaging-composition-2 (text, entries or sub-sections), cmp-2, eu-imaging-composition-1."""
    for composition in _compositions(ctx):
        for path, section, _ in iter_sections(composition):
            has_text = isinstance(section.get("text"), dict)
            has_entries = bool(dicts(section.get("entry")))
            has_sections = bool(dicts(section.get("section")))
            has_empty_reason = isinstance(section.get("emptyReason"), dict)
            name = _name(section)
            if not (has_text or has_entries or has_sections):
                for rule in ("cmp-1", "eu-imaging-composition-2"):
                    yield report(rule, path, f"section {name!r} has no text, entries or sub-sections")
            if has_empty_reason and has_entries:
                yield report("cmp-2", f"{path}.emptyReason", f"section {name!r} has entries and an emptyReason")
            if not (has_entries or has_empty_reason or has_sections or _has_note(section)):
                yield report("eu-imaging-composition-1", path,
                             f"section {name!r} has no entries and no emptyReason, sub-section or note")


def check_section_codes(ctx: Context) -> Iterator[Violation]:
    """Every section has a code; the four mandatory slices exist; no slice repeats (§2.3; checklist §10.7)."""
    for composition in _compositions(ctx):
        seen: dict[str, str] = {}
        for path, section, top in iter_sections(composition):
            if not obj(section.get("code")).get("coding") and not string(obj(section.get("code")).get("text")):
                yield report("eu-img-section-code", f"{path}.code", f"section {_name(section)!r} has no code")
            code = loinc_code(section)
            if not top or code is None:
                continue
            if code in seen and (code in codes.MANDATORY_SECTIONS or code in codes.OPTIONAL_SECTIONS):
                yield report("eu-img-section-duplicate", path,
                             f"section LOINC {code} appears twice (also {seen[code]}); its slice allows one")
            seen.setdefault(code, path)
        for code, slice_name in codes.MANDATORY_SECTIONS.items():
            if code not in seen:
                yield report("eu-img-section-mandatory", f"{composition.path}.section",
                             f"mandatory section {slice_name!r} (LOINC {code}) is missing")


def check_section_text(ctx: Context) -> Iterator[Violation]:
    """Every section has narrative text listing its entries (CompositionEuImaging root definition; §10.7)."""
    for composition in _compositions(ctx):
        for path, section, _ in iter_sections(composition):
            if not isinstance(section.get("text"), dict):
                yield report("eu-img-section-text", f"{path}.text", f"section {_name(section)!r} has no text")


def check_section_studies(ctx: Context) -> Iterator[Violation]:
    """section[imagingstudy] has >=1 ImagingStudy entry and contains every DiagnosticReport.study (§2.3, §10.8)."""
    for composition in _compositions(ctx):
        found = [(p, s) for p, s, top in iter_sections(composition)
                 if top and loinc_code(s) == codes.SECTION_IMAGING_STUDY]
        if not found:
            continue  # reported by eu-img-section-mandatory
        path, section = found[0]
        entries = dicts(section.get("entry"))
        if not any(points_to_study(ctx, ref, composition) for ref in entries):
            yield report("eu-img-section-study", f"{path}.entry", "section imagingstudy has no ImagingStudy entry")
        report_entry = ctx.report
        if report_entry is None:
            continue
        listed: set[str] = set()
        for ref in entries:
            listed |= ctx.ref_keys(ref, composition)
        for i, study in indexed(report_entry.resource.get("study")):
            if not ctx.ref_keys(study, report_entry) & listed:
                shown = string(study.get("reference")) or str(obj(study.get("identifier")).get("value"))
                yield report("eu-img-section-study", f"{report_entry.path}.study[{i}]",
                             f"DiagnosticReport.study {shown!r} is not an entry of section imagingstudy")

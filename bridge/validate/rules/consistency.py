"""Composition ↔ DiagnosticReport consistency (§2.3, §2.4; checklist §10.5).

The guide defines the hl7eu-im-dr-* invariants but does not apply them (§9 item 9); the prose requires the
consistency, so these rules implement it: shared identifier, same subject, aligned status, type = code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from bridge.validate.context import BundleKind, Context, Entry, codings, dicts, identifier_key, indexed, obj, string
from bridge.validate.rules.catalogue import report
from bridge.validate.violation import Violation

# DiagnosticReport.status `modified` is the parent of amended/corrected/appended, which Composition lists directly.
_MODIFIED: Final = frozenset({"amended", "corrected", "appended"})


def _pair(ctx: Context) -> tuple[Entry, Entry] | None:
    composition, report_entry = ctx.composition, ctx.report
    if ctx.kind is not BundleKind.DOCUMENT or composition is None or report_entry is None:
        return None
    return composition, report_entry


def _identifier_keys(entry: Entry) -> set[str]:
    return {k for k in map(identifier_key, dicts(entry.resource.get("identifier"))) if k}


def check_report_identifier(ctx: Context) -> Iterator[Violation]:
    """Composition and DR have identifiers (1..*), and a Composition identifier equals a DR identifier."""
    if ctx.kind in {BundleKind.DOCUMENT, BundleKind.MINIMAL}:
        for entry in ctx.of_type("DiagnosticReport") + ctx.of_type("Composition"):
            if not _identifier_keys(entry):
                yield report("eu-img-report-identifier", f"{entry.path}.identifier",
                             f"{entry.label} has no identifier with a value")
    pair = _pair(ctx)
    if pair is None:
        return
    composition, report_entry = pair
    ours, theirs = _identifier_keys(composition), _identifier_keys(report_entry)
    if ours and theirs and not ours & theirs:
        yield report("eu-img-report-identifier", f"{composition.path}.identifier",
                     f"no Composition identifier equals a DiagnosticReport identifier ({sorted(ours)} vs "
                     f"{sorted(theirs)})")


def check_report_subject(ctx: Context) -> Iterator[Violation]:
    """Composition.subject is 1..1, DR.subject is present, and both reference the same resource."""
    if ctx.kind not in {BundleKind.DOCUMENT, BundleKind.MINIMAL}:
        return
    for entry in ctx.of_type("DiagnosticReport"):
        if not isinstance(entry.resource.get("subject"), dict):
            yield report("eu-img-report-subject", f"{entry.path}.subject", f"{entry.label} has no subject")
    pair = _pair(ctx)
    if pair is None:
        return
    composition, report_entry = pair
    subjects = indexed(composition.resource.get("subject"))
    if len(subjects) != 1:
        yield report("eu-img-report-subject", f"{composition.path}.subject",
                     f"Composition.subject must occur once, found {len(subjects)}")
        if not subjects:
            return
    dr_subject = obj(report_entry.resource.get("subject"))
    if dr_subject and not ctx.ref_keys(subjects[0][1], composition) & ctx.ref_keys(dr_subject, report_entry):
        yield report("eu-img-report-subject", f"{report_entry.path}.subject",
                     f"DiagnosticReport.subject {dr_subject.get('reference')!r} and Composition.subject "
                     f"{subjects[0][1].get('reference')!r} are not the same patient")


def statuses_aligned(composition_status: str | None, report_status: str | None) -> bool:
    """True when the two statuses say the same thing (equal, or DR `modified` for an amended Composition)."""
    if composition_status == report_status:
        return True
    return report_status == "modified" and composition_status in _MODIFIED


def check_report_status(ctx: Context) -> Iterator[Violation]:
    """DiagnosticReport.status stays aligned with Composition.status (§2.4 status comment)."""
    pair = _pair(ctx)
    if pair is None:
        return
    composition, report_entry = pair
    ours = string(composition.resource.get("status"))
    theirs = string(report_entry.resource.get("status"))
    if not statuses_aligned(ours, theirs):
        yield report("eu-img-report-status", f"{report_entry.path}.status",
                     f"DiagnosticReport.status {theirs!r} is not aligned with Composition.status {ours!r}")


def check_report_type(ctx: Context) -> Iterator[Violation]:
    """Composition.type equals DiagnosticReport.code, comparing the sets of system+code (§2.3 type)."""
    pair = _pair(ctx)
    if pair is None:
        return
    composition, report_entry = pair
    ours = {c for c in codings(composition.resource.get("type")) if c[1]}
    theirs = {c for c in codings(report_entry.resource.get("code")) if c[1]}
    if ours != theirs:
        def show(pairs: set[tuple[str | None, str | None]]) -> str:
            return ", ".join(sorted(f"{s}#{c}" for s, c in pairs)) or "no coding"

        yield report("eu-img-report-type", f"{composition.path}.type",
                     f"Composition.type ({show(ours)}) differs from DiagnosticReport.code ({show(theirs)})")

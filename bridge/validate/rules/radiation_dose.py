"""ObservationRadiationDoseEuImaging rules (§2.11; checklist §10.13)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from bridge.validate import codes
from bridge.validate.context import BundleKind, Context, Entry, Obj, dicts, has_coding, obj, profiles, string
from bridge.validate.rules.catalogue import report
from bridge.validate.rules.imaging_study import points_to_study
from bridge.validate.rules.sections import iter_sections, loinc_code
from bridge.validate.violation import Violation

EXT_IDR_PROCEDURE: Final = codes.EXT_IDR_PREFIX + "ImagingProcedure"


def dose_observations(ctx: Context) -> tuple[Entry, ...]:
    """Observations coded LOINC 73569-6 or claiming ObservationRadiationDoseEuImaging."""
    return tuple(e for e in ctx.of_type("Observation")
                 if has_coding(e.resource.get("code"), codes.RADIATION_DOSE_CODE)
                 or codes.PROFILE_RADIATION_DOSE in profiles(e.resource))


def check_dose_observation(ctx: Context) -> Iterator[Violation]:
    """Dose Observations: the 73569-6 coding, a valueString (string only), a subject and derivedFrom[study]."""
    for entry in dose_observations(ctx):
        dose = entry.resource
        if not has_coding(dose.get("code"), codes.RADIATION_DOSE_CODE):
            yield report("eu-img-dose-observation", f"{entry.path}.code", "code needs coding LOINC 73569-6")
        if not string(dose.get("valueString")):
            others = sorted(k for k in dose if k.startswith("value") and k != "valueString")
            detail = f" (found {', '.join(others)})" if others else ""
            yield report("eu-img-dose-observation", f"{entry.path}.valueString",
                         f"{entry.label} needs a narrative valueString{detail}")
        if not isinstance(dose.get("subject"), dict):
            yield report("eu-img-dose-observation", f"{entry.path}.subject", f"{entry.label} has no subject")
        if not any(points_to_study(ctx, ref, entry) for ref in dicts(dose.get("derivedFrom"))):
            yield report("eu-img-dose-observation", f"{entry.path}.derivedFrom",
                         f"{entry.label} needs derivedFrom the ImagingStudy (reference or Study Instance UID)")


def _targets(ctx: Context, refs: list[Obj], source: Entry) -> set[int | None]:
    """Bundle indexes of the entries the references resolve to (one pass, so checks stay linear)."""
    resolved = (ctx.resolve(ref, source) for ref in refs)
    return {target.index for target in resolved if target is not None}


def check_dose_in_result(ctx: Context) -> Iterator[Violation]:
    """A dose Observation in a report bundle is in DiagnosticReport.result (dgr-1 makes it so; §10.13)."""
    reports = ctx.of_type("DiagnosticReport")
    if not ctx.in_bundle or not reports:
        return
    results: set[int | None] = set()
    for r in reports:
        results |= _targets(ctx, dicts(r.resource.get("result")), r)
    for entry in dose_observations(ctx):
        if entry.index not in results:
            yield report("eu-img-dose-result", entry.path, f"{entry.label} is not in DiagnosticReport.result")


def check_dose_linked(ctx: Context) -> Iterator[Violation]:
    """A dose Observation is an entry of section[procedure] and in DR.extension[procedure] (SHOULD; §2.20)."""
    composition, report_entry = ctx.composition, ctx.report
    if ctx.kind is not BundleKind.DOCUMENT or composition is None or report_entry is None:
        return
    procedure_entries = [ref for _, section, top in iter_sections(composition)
                         if top and loinc_code(section) == codes.SECTION_PROCEDURE
                         for ref in dicts(section.get("entry"))]
    idr = [obj(ext.get("valueReference")) for ext in dicts(report_entry.resource.get("extension"))
           if ext.get("url") == EXT_IDR_PROCEDURE]
    in_section = _targets(ctx, procedure_entries, composition)
    in_extension = _targets(ctx, idr, report_entry)
    for entry in dose_observations(ctx):
        if entry.index not in in_section:
            yield report("eu-img-dose-linked", entry.path, f"{entry.label} should be an entry of section procedure")
        if entry.index not in in_extension:
            yield report("eu-img-dose-linked", entry.path,
                         f"{entry.label} should be referenced from DiagnosticReport.extension[procedure]")

"""ImagingSelectionEuImaging family rules (§2.6; checklist §10.12).

An ImagingSelection counts as an SR-instance selection (SrInstanceImagingSelectionEuImaging) when it claims that
profile or when a radiation dose Observation's derivedFrom points to it (slice dicomSrInstance, §2.11).
"""

from __future__ import annotations

from collections.abc import Iterator

from bridge.validate import codes
from bridge.validate.context import BundleKind, Context, Entry, dicts, has_coding, indexed, profiles, string
from bridge.validate.rules.catalogue import report
from bridge.validate.rules.imaging_study import is_dicom_uid, points_to_study
from bridge.validate.rules.radiation_dose import dose_observations
from bridge.validate.violation import Violation


def _selections(ctx: Context) -> tuple[Entry, ...]:
    """ImagingSelections the guide's profiles govern: all of them inside a report bundle, else those claiming one."""
    found = ctx.of_type("ImagingSelection")
    if ctx.kind in {BundleKind.DOCUMENT, BundleKind.MINIMAL}:
        return found
    return tuple(e for e in found if any(p.startswith(codes.IG_SD) for p in profiles(e.resource)))


def sr_selections(ctx: Context) -> tuple[Entry, ...]:
    """Selections that must follow SrInstanceImagingSelectionEuImaging."""
    chosen = {id(e): e for e in ctx.of_type("ImagingSelection") if codes.PROFILE_SR_SELECTION in profiles(e.resource)}
    for dose in dose_observations(ctx):
        for ref in dicts(dose.resource.get("derivedFrom")):
            target = ctx.resolve(ref, dose)
            if target is not None and target.type == "ImagingSelection":
                chosen[id(target)] = target
    return tuple(sorted(chosen.values(), key=lambda e: e.index if e.index is not None else -1))


def check_selection_study(ctx: Context) -> Iterator[Violation]:
    """ImagingSelection.derivedFrom includes the ImagingStudy (slice study 1..1)."""
    for entry in _selections(ctx):
        if not any(points_to_study(ctx, ref, entry) for ref in dicts(entry.resource.get("derivedFrom"))):
            yield report("eu-img-selection-study", f"{entry.path}.derivedFrom",
                         f"{entry.label} needs derivedFrom the ImagingStudy it selects from")


def _sr_problems(entry: Entry) -> Iterator[tuple[str, str]]:
    """(path, problem) for one SR-instance selection."""
    selection = entry.resource
    uid_identifiers = [(i, ident) for i, ident in indexed(selection.get("identifier"))
                       if ident.get("system") == codes.URN_DICOM_UID]
    if not uid_identifiers:
        yield f"{entry.path}.identifier", f"needs the SOP Instance UID identifier (system {codes.URN_DICOM_UID})"
    for i, ident in uid_identifiers:
        if not string(ident.get("value")):
            yield f"{entry.path}.identifier[{i}].value", "the SOP Instance UID identifier has no value"
        if not has_coding(ident.get("type"), codes.TYPE_SOP_INSTANCE_UID):
            yield (f"{entry.path}.identifier[{i}].type",
                   f"identifier type must be {codes.MISSING_DICOM_TERMINOLOGY}#00080018")
    for element in ("studyUid", "seriesUid"):
        value = string(selection.get(element))
        if value is None:
            yield f"{entry.path}.{element}", f"{element} is required"
        elif not is_dicom_uid(value.removeprefix(codes.URN_OID_PREFIX)):
            yield f"{entry.path}.{element}", f"{element} {value!r} is not a valid DICOM UID"
    instances = indexed(selection.get("instance"))
    if len(instances) != 1:
        yield f"{entry.path}.instance", f"exactly one instance is required, found {len(instances)}"
    for i, instance in instances:
        if not string(instance.get("uid")):
            yield f"{entry.path}.instance[{i}].uid", "instance.uid is required"
        for element in ("subset", "imageRegion2D", "imageRegion3D"):
            if element in instance:
                yield f"{entry.path}.instance[{i}].{element}", f"{element} is not allowed (0..0)"


def check_sr_selection(ctx: Context) -> Iterator[Violation]:
    """SR/KOS/RDSR references: SOP Instance UID identifier, studyUid, seriesUid, one instance.uid, no regions."""
    for entry in sr_selections(ctx):
        for path, problem in _sr_problems(entry):
            yield report("eu-img-sr-selection", path, f"{entry.label}: {problem}")

"""Patient rules from patient-eu-core (§2.15): name 1..* with eu-pat-1, birthDate 1..1 (or data-absent-reason)."""

from __future__ import annotations

from collections.abc import Iterator

from bridge.validate import codes
from bridge.validate.context import Context, Obj, as_list, dicts, indexed, obj, string
from bridge.validate.rules.catalogue import report
from bridge.validate.violation import Violation


def _has_absent_reason(element: Obj) -> bool:
    return any(ext.get("url") == codes.EXT_DATA_ABSENT_REASON for ext in dicts(element.get("extension")))


def _name_ok(name: Obj) -> bool:
    """eu-pat-1: family, given, text, or a data-absent-reason extension."""
    given = [g for g in as_list(name.get("given")) if string(g)]
    return bool(string(name.get("family")) or string(name.get("text")) or given or _has_absent_reason(name))


def check_patient_name(ctx: Context) -> Iterator[Violation]:
    """Every Patient has a name, and each name has family, given, text or a data-absent-reason (eu-pat-1)."""
    for entry in ctx.of_type("Patient"):
        names = indexed(entry.resource.get("name"))
        if not names:
            yield report("eu-img-patient-name", f"{entry.path}.name", f"{entry.label} has no name")
        for i, name in names:
            if not _name_ok(name):
                yield report("eu-img-patient-name", f"{entry.path}.name[{i}]",
                             "name needs family, given, text or a data-absent-reason extension (eu-pat-1)")


def check_patient_birth_date(ctx: Context) -> Iterator[Violation]:
    """Every Patient has birthDate, or `_birthDate` carries a data-absent-reason (§2.15, §2.21)."""
    for entry in ctx.of_type("Patient"):
        if string(entry.resource.get("birthDate")):
            continue
        if _has_absent_reason(obj(entry.resource.get("_birthDate"))):
            continue
        yield report("eu-img-patient-birthdate", f"{entry.path}.birthDate",
                     f"{entry.label} has no birthDate and no data-absent-reason on _birthDate")

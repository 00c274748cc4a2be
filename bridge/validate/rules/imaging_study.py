"""ImagingStudyEuImaging rules (§2.5, §2.13; checklist §10.9), and the anatomical-region extension (§2.17)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from bridge.validate import codes
from bridge.validate.context import Context, Entry, Obj, codings, dicts, has_coding, indexed, obj, split_restful, string
from bridge.validate.rules.catalogue import report
from bridge.validate.violation import Violation

_UID: Final = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+")  # PS3.5 §9.1 UID encoding


def is_dicom_uid(value: str) -> bool:
    """True for a syntactically valid DICOM UID (digits and dots, no leading zeros, at most 64 characters)."""
    return len(value) <= 64 and _UID.fullmatch(value) is not None


def study_uid_identifiers(resource: Obj) -> list[tuple[int, Obj]]:
    """The identifiers with system urn:dicom:uid (the studyInstanceUid slice)."""
    identifiers = indexed(resource.get("identifier"))
    return [(i, ident) for i, ident in identifiers if ident.get("system") == codes.URN_DICOM_UID]


def points_to_study(ctx: Context, ref: Obj, source: Entry) -> bool:
    """True if a Reference designates an ImagingStudy: resolves to one, says so (type or `ImagingStudy/id`), or is a
    logical reference by Study Instance UID (identifier system urn:dicom:uid)."""
    target = ctx.resolve(ref, source)
    if target is not None:
        return target.type == "ImagingStudy"
    named = split_restful(string(ref.get("reference")) or "")
    if ref.get("type") == "ImagingStudy" or (named is not None and named[1] == "ImagingStudy"):
        return True
    return obj(ref.get("identifier")).get("system") == codes.URN_DICOM_UID


def _studies(ctx: Context) -> tuple[Entry, ...]:
    return ctx.of_type("ImagingStudy")


def check_study_identifier(ctx: Context) -> Iterator[Violation]:
    """identifier[studyInstanceUid] 1..1: system urn:dicom:uid, a value, type DCM 110180; im-imagingstudy-01."""
    for entry in _studies(ctx):
        found = study_uid_identifiers(entry.resource)
        if len(found) != 1:
            yield report("eu-img-study-identifier", f"{entry.path}.identifier",
                         f"{entry.label} needs exactly one identifier with system {codes.URN_DICOM_UID}, "
                         f"found {len(found)}")
        for i, ident in found:
            path = f"{entry.path}.identifier[{i}]"
            value = string(ident.get("value"))
            if not has_coding(ident.get("type"), codes.TYPE_STUDY_INSTANCE_UID):
                yield report("eu-img-study-identifier", f"{path}.type",
                             "the Study Instance UID identifier needs type DCM#110180")
            if value is None:
                yield report("eu-img-study-identifier", f"{path}.value",
                             "the Study Instance UID identifier has no value")
                continue
            if not value.startswith(codes.URN_OID_PREFIX):
                yield report("im-imagingstudy-01", f"{path}.value", f"{value!r} should start with 'urn:oid:'")
            uid = value.removeprefix(codes.URN_OID_PREFIX)
            if not is_dicom_uid(uid):
                yield report("eu-img-dicom-uid", f"{path}.value", f"{uid!r} is not a valid DICOM UID")


def check_modality(ctx: Context) -> Iterator[Violation]:
    """ImagingStudy.modality and series.modality are coded in DCM (http://dicom.nema.org/resources/ontology/DCM)."""
    for entry in _studies(ctx):
        concepts = [(f"{entry.path}.modality[{i}]", m) for i, m in indexed(entry.resource.get("modality"))]
        concepts += [(f"{entry.path}.series[{i}].modality", obj(s.get("modality")))
                     for i, s in indexed(entry.resource.get("series"))]
        for path, concept in concepts:
            if not any(system == codes.DCM and code for system, code in codings(concept)):
                yield report("eu-img-series-modality", path, f"modality needs a coding in {codes.DCM}")


def check_series_uids(ctx: Context) -> Iterator[Violation]:
    """series.uid and series.instance.uid are valid DICOM UIDs; every instance has a coded sopClass."""
    for entry in _studies(ctx):
        for i, series in indexed(entry.resource.get("series")):
            path = f"{entry.path}.series[{i}]"
            uid = series.get("uid")
            if not isinstance(uid, str) or not is_dicom_uid(uid):
                yield report("eu-img-dicom-uid", f"{path}.uid", f"series uid {uid!r} is not a valid DICOM UID")
            for j, instance in indexed(series.get("instance")):
                yield from _instance_violations(f"{path}.instance[{j}]", instance)


def _instance_violations(path: str, instance: Obj) -> Iterator[Violation]:
    uid = instance.get("uid")
    if not isinstance(uid, str) or not is_dicom_uid(uid):
        yield report("eu-img-dicom-uid", f"{path}.uid", f"instance uid {uid!r} is not a valid DICOM UID")
    sop_class = obj(instance.get("sopClass"))
    code = string(sop_class.get("code"))
    if code is None:
        yield report("eu-img-instance-sopclass", f"{path}.sopClass", "instance has no sopClass code")
    elif code.startswith(codes.URN_OID_PREFIX) and not is_dicom_uid(code.removeprefix(codes.URN_OID_PREFIX)):
        yield report("eu-img-dicom-uid", f"{path}.sopClass.code", f"SOP Class {code!r} is not a valid DICOM UID")


def check_series_performers(ctx: Context) -> Iterator[Violation]:
    """Series performers use function PRF, CST, DEV or LOC (v3-ParticipationType) and an actor of that slice's type."""
    for entry in _studies(ctx):
        for i, series in indexed(entry.resource.get("series")):
            for j, performer in indexed(series.get("performer")):
                path = f"{entry.path}.series[{i}].performer[{j}]"
                functions = [code for system, code in codings(performer.get("function"))
                             if system == codes.V3_PARTICIPATION_TYPE and code in codes.SERIES_PERFORMER_ACTORS]
                if not functions:
                    yield report("eu-img-series-performer", f"{path}.function",
                                 f"function needs a {codes.V3_PARTICIPATION_TYPE} coding PRF, CST, DEV or LOC")
                actor = performer.get("actor")
                if not isinstance(actor, dict) or not (actor.get("reference") or actor.get("identifier")):
                    yield report("eu-img-series-performer", f"{path}.actor", "performer has no actor")
                    continue
                target = ctx.resolve(actor, entry)
                allowed = frozenset().union(*(codes.SERIES_PERFORMER_ACTORS[f] for f in functions))
                if target is not None and functions and target.type not in allowed:
                    yield report("eu-img-series-performer", f"{path}.actor",
                                 f"a {'/'.join(functions)} performer must be {' or '.join(sorted(allowed))}, "
                                 f"not {target.label}")


def check_anatomical_region(ctx: Context) -> Iterator[Violation]:
    """AnatomicalRegionExtension values come from im-anatomical-region-valueset (required binding; §2.17, §5)."""
    for entry in ctx.of_type("ImagingStudy") + ctx.of_type("DiagnosticReport"):
        for i, ext in indexed(entry.resource.get("extension")):
            if ext.get("url") != codes.EXT_ANATOMICAL_REGION:
                continue
            found = codings(ext.get("valueCodeableConcept")) if "valueCodeableConcept" in ext else set()
            if not any(system == codes.SNOMED and code in codes.ANATOMICAL_REGIONS for system, code in found):
                shown = ", ".join(sorted(f"{s}#{c}" for s, c in found)) or "no valueCodeableConcept coding"
                yield report("eu-img-anatomical-region", f"{entry.path}.extension[{i}]",
                             f"anatomical region ({shown}) is not one of the ten SNOMED codes of "
                             "im-anatomical-region-valueset")


def check_study_populated(ctx: Context) -> Iterator[Violation]:
    """The producer SHALL populate these when known (§2.20 obligations; §10.9): one warning per element."""
    for entry in _studies(ctx):
        study = entry.resource
        for element in ("started", "numberOfSeries", "numberOfInstances", "description"):
            if element not in study:
                yield report("eu-img-study-populate", f"{entry.path}.{element}", f"{entry.label} has no {element}")
        series_list = dicts(study.get("series"))
        for element in ("description", "numberOfInstances", "bodySite", "started"):
            missing = sum(1 for s in series_list if element not in s)
            if missing:
                yield report("eu-img-study-populate", f"{entry.path}.series",
                             f"{missing} of {len(series_list)} series of {entry.label} have no {element}")
        instances = [inst for s in series_list for inst in dicts(s.get("instance"))]
        for element, has in (("number", _has_number), ("instance-description extension", _has_description)):
            missing = sum(1 for inst in instances if not has(inst))
            if missing:
                yield report("eu-img-study-populate", f"{entry.path}.series",
                             f"{missing} of {len(instances)} instances of {entry.label} have no {element}")


def _has_number(instance: Obj) -> bool:
    return "number" in instance


def _has_description(instance: Obj) -> bool:
    """ImagingStudyEuImagingInstanceDescription, the instance title (§2.5 series.instance extensions)."""
    return any(ext.get("url") == codes.EXT_INSTANCE_DESCRIPTION for ext in dicts(instance.get("extension")))

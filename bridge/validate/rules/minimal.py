"""Minimal-metadata format rules: BundleReportMinimalMetadataEuImaging and its DiagnosticReport (§2.2, §2.4;
checklist §10.14)."""

from __future__ import annotations

from collections.abc import Iterator

from bridge.validate import codes
from bridge.validate.context import BundleKind, Context, Entry, dicts, has_coding, indexed, string
from bridge.validate.rules.catalogue import report
from bridge.validate.violation import Violation


def _minimal_reports(ctx: Context) -> tuple[Entry, ...]:
    return ctx.of_type("DiagnosticReport") if ctx.kind is BundleKind.MINIMAL else ()


def check_minimal_slices(ctx: Context) -> Iterator[Violation]:
    """DiagnosticReport 1..1, Patient 0..1, ImagingStudy 0..1, and no Composition (§2.2)."""
    if ctx.kind is not BundleKind.MINIMAL:
        return
    reports = ctx.of_type("DiagnosticReport")
    if len(reports) != 1:
        yield report("eu-img-minimal-slices", "Bundle.entry",
                     f"the minimal-metadata Bundle needs exactly 1 DiagnosticReport, found {len(reports)}")
    for rtype in ("Patient", "ImagingStudy"):
        for extra in ctx.of_type(rtype)[1:]:
            yield report("eu-img-minimal-slices", extra.path, f"at most one {rtype} is allowed; {extra.label} is extra")
    for composition in ctx.of_type("Composition"):
        yield report("eu-img-minimal-slices", composition.path, "the minimal-metadata format has no Composition")


def check_minimal_composition(ctx: Context) -> Iterator[Violation]:
    """DiagnosticReportEuImagingMinimalMetadata.composition is 0..0."""
    for entry in _minimal_reports(ctx):
        if "composition" in entry.resource:
            yield report("eu-img-minimal-composition", f"{entry.path}.composition",
                         f"{entry.label} must not have a composition in the minimal-metadata format")


def check_minimal_presented_form(ctx: Context) -> Iterator[Violation]:
    """The report itself is a PDF in DiagnosticReport.presentedForm, inline (data) or by url (§2.2)."""
    for entry in _minimal_reports(ctx):
        forms = dicts(entry.resource.get("presentedForm"))
        pdfs = [f for f in forms if f.get("contentType") == "application/pdf" and (f.get("data") or f.get("url"))]
        if not pdfs:
            yield report("eu-img-minimal-presented-form", f"{entry.path}.presentedForm",
                         f"{entry.label} needs a presentedForm with contentType application/pdf and data or url")


def check_minimal_references(ctx: Context) -> Iterator[Violation]:
    """study and basedOn: a resource reference or an identifier, never both (slices *-resource / *-identifier);
    identifier-only studies follow StudyInstanceUidIdentifierEuImaging (§2.4, §2.13)."""
    for entry in _minimal_reports(ctx):
        for element in ("study", "basedOn"):
            for i, ref in indexed(entry.resource.get(element)):
                path = f"{entry.path}.{element}[{i}]"
                has_reference, has_identifier = "reference" in ref, "identifier" in ref
                if has_reference == has_identifier:
                    what = "both a reference and an identifier" if has_reference else "neither reference nor identifier"
                    yield report("eu-img-minimal-reference", path, f"{element} has {what}; it needs exactly one")
                elif element == "study" and has_identifier:
                    yield from _study_identifier(path + ".identifier", ref["identifier"])


def _study_identifier(path: str, identifier: object) -> Iterator[Violation]:
    """An identifier-only study reference carries a StudyInstanceUidIdentifierEuImaging."""
    ident = identifier if isinstance(identifier, dict) else {}
    if ident.get("system") != codes.URN_DICOM_UID:
        yield report("eu-img-study-identifier", f"{path}.system",
                     f"the study identifier needs system {codes.URN_DICOM_UID}")
    if not has_coding(ident.get("type"), codes.TYPE_STUDY_INSTANCE_UID):
        yield report("eu-img-study-identifier", f"{path}.type", "the study identifier needs type DCM#110180")
    value = string(ident.get("value"))
    if value is None:
        yield report("eu-img-study-identifier", f"{path}.value", "the study identifier has no value")
    elif not value.startswith(codes.URN_OID_PREFIX):
        yield report("im-imagingstudy-01", f"{path}.value",
                     f"Study Instance UID {value!r} should start with 'urn:oid:'")

"""Bundle-level rules: core bdl-* invariants, the two report Bundle profiles' entry rules, slices, meta.profile."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from bridge.validate import codes
from bridge.validate.context import (
    BundleKind,
    Context,
    Entry,
    as_list,
    indexed,
    obj,
    profiles,
    split_restful,
    string,
)
from bridge.validate.rules.catalogue import report
from bridge.validate.violation import Violation

_UUID: Final = re.compile(r"urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_OID: Final = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
_REQUEST_TYPES: Final = frozenset({"batch", "transaction", "history"})
_RESPONSE_TYPES: Final = frozenset({"batch-response", "transaction-response", "history"})


def _bundle_type(ctx: Context) -> str | None:
    return string(ctx.data.get("type"))


def check_core_entry_invariants(ctx: Context) -> Iterator[Violation]:
    """bdl-1..bdl-5 and bdl-8: total, search, request, response, resource presence, versionless fullUrl."""
    if not ctx.in_bundle:
        return
    btype = _bundle_type(ctx)
    if "total" in ctx.data and btype not in {"searchset", "history"}:
        yield report("bdl-1", "Bundle.total", f"total is only allowed in a searchset or history, not {btype!r}")
    for i, entry in indexed(ctx.data.get("entry")):
        path = f"Bundle.entry[{i}]"
        if "search" in entry and btype != "searchset":
            yield report("bdl-2", f"{path}.search", f"entry.search is only allowed in a searchset, not {btype!r}")
        if ("request" in entry) != (btype in _REQUEST_TYPES):
            need = "required" if btype in _REQUEST_TYPES else "not allowed"
            yield report("bdl-3", f"{path}.request", f"entry.request is {need} in a {btype!r} Bundle")
        if ("response" in entry) != (btype in _RESPONSE_TYPES):
            need = "required" if btype in _RESPONSE_TYPES else "not allowed"
            yield report("bdl-4", f"{path}.response", f"entry.response is {need} in a {btype!r} Bundle")
        if "resource" not in entry and "request" not in entry and "response" not in entry:
            yield report("bdl-5", path, "entry has no resource (and no request or response)")
        full_url = string(entry.get("fullUrl"))
        if full_url is not None and "/_history/" in full_url:
            yield report("bdl-8", f"{path}.fullUrl", f"fullUrl {full_url!r} is version specific")


def check_full_url_unique(ctx: Context) -> Iterator[Violation]:
    """bdl-7: fullUrl is unique, unless the entries carry different meta.versionId."""
    if not ctx.in_bundle:
        return
    seen: dict[tuple[str, str | None], int] = {}
    for i, entry in indexed(ctx.data.get("entry")):
        full_url = string(entry.get("fullUrl"))
        if full_url is None:
            continue
        version = string(obj(obj(entry.get("resource")).get("meta")).get("versionId"))
        key = (full_url, version)
        if key in seen:
            yield report("bdl-7", f"Bundle.entry[{i}].fullUrl",
                         f"fullUrl {full_url!r} is not unique (also Bundle.entry[{seen[key]}])")
        else:
            seen[key] = i


def check_document_header(ctx: Context) -> Iterator[Violation]:
    """bdl-9, bdl-10, bdl-11: a document has identifier system+value, a timestamp, a Composition first."""
    if ctx.kind is not BundleKind.DOCUMENT:
        return
    identifier = obj(ctx.data.get("identifier"))
    if not string(identifier.get("system")) or not string(identifier.get("value")):
        yield report("bdl-9", "Bundle.identifier", "a document Bundle needs an identifier with system and value")
    if not string(ctx.data.get("timestamp")):
        yield report("bdl-10", "Bundle.timestamp", "a document Bundle needs a timestamp")
    entries = as_list(ctx.data.get("entry"))
    first = obj(obj(entries[0]).get("resource")).get("resourceType") if entries else None
    if first != "Composition":
        yield report("bdl-11", "Bundle.entry[0]", f"the first resource of a document must be a Composition, "
                     f"found {first!r}")


def check_bundle_type(ctx: Context) -> Iterator[Violation]:
    """Bundle.type is `document` for BundleReportEuImaging and `collection` for the minimal format (§2.1, §2.2)."""
    if not ctx.in_bundle:
        return
    btype = _bundle_type(ctx)
    if ctx.kind is BundleKind.DOCUMENT and btype != "document":
        yield report("eu-img-bundle-type", "Bundle.type", f"BundleReportEuImaging needs type 'document', not {btype!r}")
    elif ctx.kind is BundleKind.MINIMAL and btype != "collection":
        yield report("eu-img-bundle-type", "Bundle.type",
                     f"BundleReportMinimalMetadataEuImaging needs type 'collection', not {btype!r}")
    elif ctx.kind is BundleKind.OTHER:
        yield report("eu-img-bundle-type", "Bundle.type",
                     f"a {btype!r} Bundle is neither a report document nor a minimal-metadata collection "
                     "(collection with a DiagnosticReport and no Composition); only generic rules were run")


def check_entry_shape(ctx: Context) -> Iterator[Violation]:
    """Report bundles: entry.fullUrl 1..1, entry.link 0..0; minimal format: Bundle.link 0..0 (§2.1, §2.2)."""
    if ctx.kind not in {BundleKind.DOCUMENT, BundleKind.MINIMAL}:
        return
    if ctx.kind is BundleKind.MINIMAL and "link" in ctx.data:
        yield report("eu-img-bundle-entries", "Bundle.link", "the minimal-metadata Bundle allows no link")
    for i, entry in indexed(ctx.data.get("entry")):
        if not string(entry.get("fullUrl")):
            yield report("eu-img-bundle-entries", f"Bundle.entry[{i}]", "entry has no fullUrl")
        if "link" in entry:
            yield report("eu-img-bundle-entries", f"Bundle.entry[{i}].link", "entry.link is not allowed")


def check_full_url_matches_resource(ctx: Context) -> Iterator[Violation]:
    """A RESTful fullUrl ends in the resource's Type/id; otherwise it is a well-formed urn:uuid or urn:oid."""
    for entry in ctx.entries:
        url = entry.full_url
        if url is None:
            continue
        path = f"Bundle.entry[{entry.index}].fullUrl"
        if url.startswith("urn:"):
            if not (_UUID.fullmatch(url) or _OID.fullmatch(url)):
                yield report("eu-img-bundle-fullurl", path, f"fullUrl {url!r} is not a valid urn:uuid or urn:oid")
            continue
        parts = split_restful(url)
        if parts is None or parts[0] is None:
            yield report("eu-img-bundle-fullurl", path, f"fullUrl {url!r} is neither a RESTful URL nor a urn")
        elif (parts[1], parts[2]) != (entry.type, entry.id):
            yield report("eu-img-bundle-fullurl", path,
                         f"fullUrl {url!r} disagrees with the resource {entry.type}/{entry.id}")


def check_document_slices(ctx: Context) -> Iterator[Violation]:
    """Document slices: Composition 1..1, DiagnosticReport 1..1, Patient 1..1, ImagingStudy 1..* (§2.1)."""
    if ctx.kind is not BundleKind.DOCUMENT:
        return
    for rtype, low, high in (("Composition", 1, 1), ("DiagnosticReport", 1, 1), ("Patient", 1, 1),
                             ("ImagingStudy", 1, None)):
        found = ctx.of_type(rtype)
        if len(found) < low:
            yield report("eu-img-bundle-slices", "Bundle.entry", f"a report document needs {low} {rtype}, found 0")
        elif high is not None and len(found) > high:
            for extra in found[high:]:
                yield report("eu-img-bundle-slices", extra.path,
                             f"a report document allows {high} {rtype}; {extra.label} is one too many")


def check_meta_profiles(ctx: Context) -> Iterator[Violation]:
    """Guide resources claim their profile canonical in meta.profile (the examples all do; §6 setMetaProfile)."""
    if ctx.kind is BundleKind.DOCUMENT:
        bundle_profile, report_profiles = codes.PROFILE_BUNDLE_DOCUMENT, {codes.PROFILE_REPORT}
    elif ctx.kind is BundleKind.MINIMAL:
        bundle_profile, report_profiles = codes.PROFILE_BUNDLE_MINIMAL, {codes.PROFILE_REPORT_MINIMAL}
    elif ctx.kind is BundleKind.RESOURCE:
        bundle_profile, report_profiles = "", {codes.PROFILE_REPORT, codes.PROFILE_REPORT_MINIMAL}
    else:
        return
    if bundle_profile and bundle_profile not in profiles(ctx.data):
        yield report("eu-img-meta-profile", "Bundle.meta.profile", f"meta.profile should include {bundle_profile}")
    expected: dict[str, set[str]] = {
        "Composition": {codes.PROFILE_COMPOSITION},
        "ImagingStudy": {codes.PROFILE_IMAGING_STUDY},
        "DiagnosticReport": report_profiles,
    }
    for entry in ctx.entries:
        wanted = expected.get(entry.type)
        if wanted is not None and not wanted & profiles(entry.resource):
            yield report("eu-img-meta-profile", f"{entry.path}.meta.profile",
                         f"meta.profile should include {' or '.join(sorted(wanted))}")


def check_orphans(ctx: Context) -> Iterator[Violation]:
    """Every document entry is linked, in either direction, to the graph around the Composition (§2.1).

    Links are resolved references plus attachment URLs that name an entry (DR.presentedForm.url → Binary).
    """
    start = ctx.composition
    if ctx.kind is not BundleKind.DOCUMENT or start is None:
        return
    neighbours: dict[int, set[int]] = {i: set() for i in range(len(ctx.entries))}
    position = {id(entry): i for i, entry in enumerate(ctx.entries)}
    for i, entry in enumerate(ctx.entries):
        targets: list[Entry | None] = [ctx.resolve(ref.value, entry) for ref in entry.refs]
        targets += [ctx.resolve_string(url, entry) for url in entry.attachment_urls]
        for target in targets:
            if target is not None:
                j = position[id(target)]
                neighbours[i].add(j)
                neighbours[j].add(i)
    seen = {position[id(start)]}
    todo = list(seen)
    while todo:
        for j in neighbours[todo.pop()] - seen:
            seen.add(j)
            todo.append(j)
    for i, entry in enumerate(ctx.entries):
        if i not in seen:
            yield report("eu-img-bundle-orphan", entry.path,
                         f"{entry.label} is not linked to the Composition or any resource reachable from it")

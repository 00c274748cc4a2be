"""DocumentReferenceImagingReport, the MHD / EU Health Data API wrapper of a report Bundle (§2.14; §10.15).

It lives outside the report Bundle, so these rules matter mostly for a DocumentReference validated on its own.
A DocumentReference is taken to be the wrapper when it claims the profile or its content.profile names one of
the two report Bundle canonicals.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from bridge.validate import codes
from bridge.validate.context import Context, Entry, Obj, canonical, dicts, has_coding, obj, profiles, string
from bridge.validate.rules.catalogue import report
from bridge.validate.violation import Violation

_BUNDLE_PROFILES: Final = frozenset({codes.PROFILE_BUNDLE_DOCUMENT, codes.PROFILE_BUNDLE_MINIMAL})


def _content_profiles(content: Obj) -> set[str]:
    values = [p.get("valueCanonical") for p in dicts(content.get("profile"))]
    return {canonical(v) for v in values if isinstance(v, str)}


def wrappers(ctx: Context) -> tuple[Entry, ...]:
    """DocumentReferences that are (or claim to be) DocumentReferenceImagingReport."""
    return tuple(e for e in ctx.of_type("DocumentReference")
                 if codes.PROFILE_DOCREF_REPORT in profiles(e.resource)
                 or any(_content_profiles(c) & _BUNDLE_PROFILES for c in dicts(e.resource.get("content"))))


def check_docref_header(ctx: Context) -> Iterator[Violation]:
    """subject 1..1 and date 1..1 (status is required by R5 itself)."""
    for entry in wrappers(ctx):
        for element in ("subject", "date"):
            if element not in entry.resource:
                yield report("eu-img-docref-header", f"{entry.path}.{element}", f"{entry.label} has no {element}")


def check_docref_codes(ctx: Context) -> Iterator[Violation]:
    """category[priority-area] Medical-Imaging (1..1), type LOINC 85430-7, bodySite.concept 1..1."""
    for entry in wrappers(ctx):
        doc = entry.resource
        categories = dicts(doc.get("category"))
        if len(categories) != 1 or not has_coding(categories[0], codes.CATEGORY_MEDICAL_IMAGING):
            yield report("eu-img-docref-codes", f"{entry.path}.category",
                         "needs exactly one category, with coding Medical-Imaging")
        if not has_coding(doc.get("type"), codes.CATEGORY_IMAGING_REPORT):
            yield report("eu-img-docref-codes", f"{entry.path}.type", "type needs coding LOINC 85430-7")
        concepts = [obj(site.get("concept")) for site in dicts(doc.get("bodySite"))]
        if not any(c.get("coding") for c in concepts):
            yield report("eu-img-docref-codes", f"{entry.path}.bodySite", "bodySite.concept (coded) is required")


def check_docref_content(ctx: Context) -> Iterator[Violation]:
    """Exactly one content, whose profile names a report Bundle canonical and whose attachment has a url."""
    for entry in wrappers(ctx):
        contents = dicts(entry.resource.get("content"))
        if len(contents) != 1:
            yield report("eu-img-docref-content", f"{entry.path}.content",
                         f"exactly one content is required, found {len(contents)}")
        for i, content in enumerate(contents):
            path = f"{entry.path}.content[{i}]"
            if not _content_profiles(content) & _BUNDLE_PROFILES:
                yield report("eu-img-docref-content", f"{path}.profile",
                             "content.profile needs valueCanonical BundleReportEuImaging or "
                             "BundleReportMinimalMetadataEuImaging")
            if not string(obj(content.get("attachment")).get("url")):
                yield report("eu-img-docref-content", f"{path}.attachment.url", "the attachment needs the Bundle's url")

"""What every rule gets: the bundle's entries, indexed once, with their references and reference resolution.

Reference resolution follows FHIR R5 "Resolving references in Bundles" (bundle.html#references): `urn:` and
absolute references match a `fullUrl` exactly; a relative `Type/id` reference is made absolute with the base of
the `fullUrl` of the entry that contains it. When that `fullUrl` is not RESTful (a `urn:uuid:`), the spec gives a
relative reference no meaning; like the reference validators we then match it by resource type and id. References
inside `contained` resources and in narrative are not collected; `#id` references point into `contained`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from bridge.validate import codes

Obj = dict[str, Any]

# Keys a Reference may carry; a dict with a string "reference" and other keys is some other type (e.g. Expression).
_REFERENCE_KEYS: Final = frozenset(
    {"reference", "_reference", "type", "_type", "identifier", "display", "_display", "id", "extension"}
)
_ATTACHMENT_PARENTS: Final = frozenset({"presentedForm", "attachment", "valueAttachment", "photo"})
_INTERESTING_EXTENSIONS: Final = frozenset({codes.EXT_UNCERTAIN_PERIOD, codes.EXT_DATA_ABSENT_REASON})
_RESTFUL: Final = re.compile(
    r"(?:(?P<base>https?://.+?)/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"(?:/_history/(?P<vid>[A-Za-z0-9\-.]{1,64}))?"
)


class BundleKind(StrEnum):
    """Which profile a validated object is checked against."""

    DOCUMENT = "document"  # BundleReportEuImaging (§2.1)
    MINIMAL = "minimal"  # BundleReportMinimalMetadataEuImaging (§2.2)
    OTHER = "other"  # a Bundle that matches neither profile: only the generic rules run
    RESOURCE = "resource"  # a single resource outside a Bundle: only the per-resource rules run


# -- tolerant accessors: rules run on data that may have failed the structure parse -------------------------


def as_list(value: Any) -> list[Any]:
    """The items of a repeating element; a lone value counts as one item, None as none."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def dicts(value: Any) -> list[Obj]:
    """The object items of a repeating (or single) element, skipping items of the wrong JSON type."""
    return [item for item in as_list(value) if isinstance(item, dict)]


def indexed(value: Any) -> list[tuple[int, Obj]]:
    """Like `dicts`, with each item's index in the JSON array (for paths)."""
    return [(i, item) for i, item in enumerate(as_list(value)) if isinstance(item, dict)]


def obj(value: Any) -> Obj:
    """The value if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def string(value: Any) -> str | None:
    """The value if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def codings(concept: Any) -> set[tuple[str | None, str | None]]:
    """The (system, code) pairs of a CodeableConcept (or of a bare Coding)."""
    source = obj(concept)
    items = dicts(source.get("coding")) if "coding" in source else [source]
    return {(string(c.get("system")), string(c.get("code"))) for c in items}


def has_coding(concept: Any, pair: tuple[str, str]) -> bool:
    """True if the CodeableConcept (or Coding) carries the coding system#code."""
    return pair in codings(concept)


def any_has_coding(concepts: Any, pair: tuple[str, str]) -> bool:
    """True if any CodeableConcept of a repeating element carries the coding."""
    return any(has_coding(c, pair) for c in dicts(concepts))


def canonical(url: str) -> str:
    """A canonical URL without its `|version` suffix."""
    return url.split("|", 1)[0]


def profiles(resource: Obj) -> set[str]:
    """The versionless canonicals in `meta.profile`."""
    return {canonical(p) for p in as_list(obj(resource.get("meta")).get("profile")) if isinstance(p, str)}


def identifier_key(identifier: Any) -> str | None:
    """`system|value` of an Identifier, with a Study Instance UID's `urn:oid:` prefix removed; None if no value."""
    ident = obj(identifier)
    value = string(ident.get("value"))
    if value is None:
        return None
    system = string(ident.get("system")) or ""
    if system == codes.URN_DICOM_UID and value.startswith(codes.URN_OID_PREFIX):
        value = value[len(codes.URN_OID_PREFIX):]
    return f"{system}|{value}"


def split_restful(url: str) -> tuple[str | None, str, str] | None:
    """(base, type, id) of a RESTful URL or relative `Type/id[/_history/v]` reference, else None."""
    match = _RESTFUL.fullmatch(url)
    if match is None:
        return None
    return match.group("base"), match.group("type"), match.group("id")


# -- entries ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ref:
    """A Reference element found in a resource, with its path."""

    path: str
    value: Obj

    @property
    def reference(self) -> str | None:
        """The literal reference string, if any."""
        return string(self.value.get("reference"))


@dataclass(frozen=True, slots=True)
class ExtensionSite:
    """An extension of interest (uncertainPeriod, data-absent-reason) and, on a primitive, the value it extends."""

    path: str  # path of the extension itself
    extension: Obj
    primitive: str | None  # element name of the extended primitive ("started"), None if not on a primitive
    value: Any  # the primitive's value (None when absent)


@dataclass(frozen=True, slots=True)
class Entry:
    """One resource to validate: a Bundle entry's resource, or the standalone resource itself."""

    index: int | None  # position in Bundle.entry; None for a standalone resource
    full_url: str | None
    resource: Obj
    path: str  # "Bundle.entry[3].resource", or the resource type for a standalone resource
    refs: tuple[Ref, ...] = field(default=(), repr=False)
    attachment_urls: tuple[str, ...] = field(default=(), repr=False)
    extensions: tuple[ExtensionSite, ...] = field(default=(), repr=False)

    @property
    def type(self) -> str:
        """The resourceType ("" if missing or not a string)."""
        return string(self.resource.get("resourceType")) or ""

    @property
    def id(self) -> str | None:
        """The logical id, if any."""
        return string(self.resource.get("id"))

    @property
    def label(self) -> str:
        """`Type/id` (or the fullUrl, or the path) for messages."""
        if self.id:
            return f"{self.type}/{self.id}"
        return self.full_url or self.path


def _walk(resource: Obj, root: str) -> tuple[tuple[Ref, ...], tuple[str, ...], tuple[ExtensionSite, ...]]:
    """Collect references, attachment URLs and extensions of interest in one pass (iterative, no recursion limit)."""
    refs: list[Ref] = []
    urls: list[str] = []
    sites: list[ExtensionSite] = []
    stack: list[tuple[Any, str, str]] = [(resource, root, "")]
    while stack:
        node, path, key = stack.pop()
        if isinstance(node, list):
            stack.extend((item, f"{path}[{i}]", key) for i, item in reversed(list(enumerate(node))))
            continue
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("reference"), str) and node.keys() <= _REFERENCE_KEYS:
            refs.append(Ref(path, node))
        if key in _ATTACHMENT_PARENTS and isinstance(node.get("url"), str):
            urls.append(node["url"])
        for name, value in node.items():
            if name == "contained":  # references inside contained resources are out of scope (§10 item 3)
                continue
            if name == "extension" and not key.startswith("_"):
                _collect(value, f"{path}.extension", None, None, sites)
            elif name.startswith("_"):  # primitive extensions: `_started` holds the extensions of `started`
                _collect_primitive(name, value, node.get(name[1:]), f"{path}.{name}", sites)
            stack.append((value, f"{path}.{name}", name))
    return tuple(refs), tuple(urls), tuple(sites)


def _collect_primitive(name: str, holder: Any, value: Any, path: str, sites: list[ExtensionSite]) -> None:
    """Record the extensions of interest on a primitive (`_x` object) or on each item of a primitive array."""
    if isinstance(holder, dict):
        _collect(holder.get("extension"), f"{path}.extension", name[1:], value, sites)
    elif isinstance(holder, list):
        values = value if isinstance(value, list) else []
        for i, item in enumerate(holder):
            if isinstance(item, dict):
                item_value = values[i] if i < len(values) else None
                _collect(item.get("extension"), f"{path}[{i}].extension", name[1:], item_value, sites)


def _collect(extensions: Any, path: str, primitive: str | None, value: Any, sites: list[ExtensionSite]) -> None:
    for i, ext in enumerate(as_list(extensions)):
        if isinstance(ext, dict) and string(ext.get("url")) in _INTERESTING_EXTENSIONS:
            sites.append(ExtensionSite(f"{path}[{i}]", ext, primitive, value))


def make_entry(index: int | None, full_url: str | None, resource: Obj, path: str) -> Entry:
    """An Entry with its references, attachment URLs and extension sites collected."""
    refs, urls, sites = _walk(resource, path)
    return Entry(index, full_url, resource, path, refs, urls, sites)


# -- the context ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    """The validated object as rules see it: kind, entries and indexes (built once by `build_context`)."""

    data: Obj
    root: str  # "Bundle", or the resource type of a standalone resource
    kind: BundleKind
    entries: tuple[Entry, ...]
    by_full_url: Mapping[str, Entry]
    by_type_id: Mapping[tuple[str, str], Entry]
    by_type: Mapping[str, tuple[Entry, ...]]

    @property
    def in_bundle(self) -> bool:
        """True when validating a Bundle (references can be resolved)."""
        return self.kind is not BundleKind.RESOURCE

    def of_type(self, resource_type: str) -> tuple[Entry, ...]:
        """Entries whose resource has this resourceType, in bundle order."""
        return self.by_type.get(resource_type, ())

    @property
    def composition(self) -> Entry | None:
        """The first Composition in the bundle (there must be exactly one in a document)."""
        found = self.of_type("Composition")
        return found[0] if found else None

    @property
    def report(self) -> Entry | None:
        """The first DiagnosticReport in the bundle (there must be exactly one in either format)."""
        found = self.of_type("DiagnosticReport")
        return found[0] if found else None

    def resolve(self, ref: Any, source: Entry) -> Entry | None:
        """The entry a Reference's literal `reference` points to, or None (unresolved, `#x`, or identifier-only)."""
        reference = string(obj(ref).get("reference"))
        return self.resolve_string(reference, source) if reference else None

    def resolve_string(self, reference: str, source: Entry) -> Entry | None:
        """The entry a reference string points to (FHIR R5 bundle.html#references), or None."""
        if not self.in_bundle or reference.startswith("#"):
            return None
        if reference.startswith("urn:"):
            return self.by_full_url.get(reference)
        parts = split_restful(reference)
        if parts is None:
            return self.by_full_url.get(reference)
        base, rtype, rid = parts
        if base is not None:
            return self.by_full_url.get(f"{base}/{rtype}/{rid}")
        source_parts = split_restful(source.full_url or "")
        if source_parts is not None and source_parts[0] is not None:
            return self.by_full_url.get(f"{source_parts[0]}/{rtype}/{rid}")
        return self.by_type_id.get((rtype, rid))

    def ref_keys(self, ref: Any, source: Entry) -> frozenset[str]:
        """Keys under which two references count as the same target: entry, identifiers, literal string."""
        keys: set[str] = set()
        value = obj(ref)
        target = self.resolve(value, source)
        if target is not None:
            keys.add(f"entry:{target.index}")
            keys.update(f"id:{k}" for k in map(identifier_key, as_list(target.resource.get("identifier"))) if k)
        elif reference := string(value.get("reference")):
            keys.add(f"ref:{reference}")
        if key := identifier_key(value.get("identifier")):
            keys.add(f"id:{key}")
        return frozenset(keys)


def detect_kind(data: Obj) -> BundleKind:
    """Which profile applies: `meta.profile` first, else Bundle.type (document, or collection with a DR and no
    Composition); any other Bundle is OTHER and anything not a Bundle is RESOURCE."""
    if data.get("resourceType") != "Bundle":
        return BundleKind.RESOURCE
    claimed = profiles(data)
    if codes.PROFILE_BUNDLE_DOCUMENT in claimed:
        return BundleKind.DOCUMENT
    if codes.PROFILE_BUNDLE_MINIMAL in claimed:
        return BundleKind.MINIMAL
    bundle_type = data.get("type")
    if bundle_type == "document":
        return BundleKind.DOCUMENT
    types = {string(obj(e.get("resource")).get("resourceType")) for e in dicts(data.get("entry"))}
    if bundle_type == "collection" and "DiagnosticReport" in types and "Composition" not in types:
        return BundleKind.MINIMAL
    return BundleKind.OTHER


def build_context(data: Obj) -> Context:
    """Index a Bundle (or a standalone resource) for the rules; tolerant of any JSON shape inside."""
    kind = detect_kind(data)
    entries: list[Entry] = []
    if kind is BundleKind.RESOURCE:
        root = string(data.get("resourceType")) or "Resource"
        entries.append(make_entry(None, None, data, root))
    else:
        root = "Bundle"
        for i, raw in indexed(data.get("entry")):
            resource = raw.get("resource")
            if isinstance(resource, dict):
                full_url = string(raw.get("fullUrl"))
                entries.append(make_entry(i, full_url, resource, f"Bundle.entry[{i}].resource"))
    by_full_url: dict[str, Entry] = {}
    by_type_id: dict[tuple[str, str], Entry] = {}
    by_type: dict[str, list[Entry]] = {}
    for entry in entries:
        if entry.full_url is not None:
            by_full_url.setdefault(entry.full_url, entry)
        if entry.id is not None:
            by_type_id.setdefault((entry.type, entry.id), entry)
        by_type.setdefault(entry.type, []).append(entry)
    return Context(
        data=data,
        root=root,
        kind=kind,
        entries=tuple(entries),
        by_full_url=by_full_url,
        by_type_id=by_type_id,
        by_type={k: tuple(v) for k, v in by_type.items()},
    )

"""Property tests of the tolerant SR content-tree walker (sr-mapping.md §7, §8).

Random content trees are built as pydicom Datasets: every value type, wrong and missing value types, missing
concept names, NUMs with and without a measured value or with garbage, IMAGEs with and without references,
SCOORDs with odd Graphic Data, by-reference items pointing at items, ancestors, themselves and nowhere, and
raw (undecoded) elements holding bytes pydicom cannot convert. The walker must never raise, must be
deterministic, must keep every readable item and must turn limits into ``truncated`` and a finding.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import dcmread, dcmwrite
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ComprehensiveSRStorage, ExplicitVRLittleEndian

from bridge.extract.sr import tree
from bridge.extract.sr.tree import ContentItem, WalkResult, walk
from bridge.model import Severity

SOURCE = "random.dcm"
SYSTEMS = {"DCM": "http://dicom.nema.org/resources/ontology/DCM", "LN": "http://loinc.org",
           "99LOCAL": "urn:dicom-bridge:private-scheme:99LOCAL"}
RELATIONSHIPS = ("CONTAINS", "HAS PROPERTIES", "HAS OBS CONTEXT", "INFERRED FROM", "HAS CONCEPT MOD", None)
# Latin-1 letters whose bytes never form valid UTF-8 next to each other or to ASCII (so a fallback decode of
# Latin-1 bytes without a Specific Character Set gives back the same text)
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
TEXT_ALPHABET = LETTERS + " .,:;-()/%+\n" + "ÖéßüÄ"
LEAVES = frozenset({"BYREF", "NOTHING"})
KINDS = (
    "CONTAINER", "CONTAINER", "TEXT", "TEXT", "TEXT_EMPTY", "TEXT_INFERRED", "CODE", "CODE_MISSING",
    "CODE_INFERRED", "NUM", "NUM_FLOAT", "NUM_NO_MVS", "NUM_GARBAGE", "IMAGE", "IMAGE_INVALID", "SCOORD",
    "SCOORD3D", "PNAME", "UIDREF", "DATE", "DATETIME", "UNKNOWN_VT", "NOTHING", "BYREF", "BYREF",
)


@dataclass
class Spec:
    """One generated content item: its kind, the drawn parameters, and what the walker must give back."""

    kind: str
    params: dict[str, object]
    children: list[Spec] = field(default_factory=list)
    path: str = ""
    target: tuple[int, ...] | None = None  # BYREF

    @property
    def kept(self) -> bool:
        """The walker keeps the item (so it also walks its children)."""
        if self.kind == "IMAGE_INVALID":
            return False
        return self.kind != "NOTHING" or bool(self.children)


class Document:
    """A generated data set with its specification (not a dataclass: Hypothesis would print the data set)."""

    def __init__(self, ds: Dataset, root: Spec) -> None:
        self.ds, self.root = ds, root

    def __repr__(self) -> str:  # the Dataset's repr would convert (and warn about) its raw elements
        return f"Document({self.root!r})"

    def visited(self) -> Iterator[tuple[Spec, int]]:
        """(spec, depth) of every item the walker reads: those whose ancestors are all kept."""
        stack = [(c, 1) for c in reversed(self.root.children)]
        while stack:
            spec, depth = stack.pop()
            yield spec, depth
            if spec.kept:
                stack.extend((c, depth + 1) for c in reversed(spec.children))


# --- strategies --------------------------------------------------------------------------------------------

clean_text = st.text(TEXT_ALPHABET, min_size=1, max_size=30).map(str.strip).filter(bool)
short_word = st.text(LETTERS, min_size=1, max_size=8)
codes = st.tuples(short_word, st.sampled_from(sorted(SYSTEMS)), st.text(LETTERS + " ", max_size=12))
uids = st.lists(st.integers(0, 99_999), min_size=2, max_size=6).map(lambda p: "1.2." + ".".join(map(str, p)))
decimal_strings = st.from_regex(r"-?[0-9]{1,6}(\.[0-9]{1,5})?([eE]-?[0-9])?", fullmatch=True)
float32s = st.floats(width=32, allow_nan=True, allow_infinity=True)
garbage_ds = st.sampled_from([b"abc ", b"1,5 ", b"NaN ", b"Infinity", b"\xff1", b" 1.0.0", b"--", b"1e99999 "])

PARAMS: dict[str, st.SearchStrategy[dict[str, object]]] = {
    "CONTAINER": st.fixed_dictionaries(
        {"template": st.sampled_from([None, ("DCMR", "1500"), ("99X", "7"), (None, "")])}
    ),
    "TEXT": st.fixed_dictionaries({"value": clean_text, "suffix": st.sampled_from(["", " ", "  "]),
                                   "vt": st.sampled_from(["TEXT", "text"])}),
    "TEXT_EMPTY": st.fixed_dictionaries({"value": st.sampled_from([None, "", " "]), "code": st.booleans()}),
    "TEXT_INFERRED": st.fixed_dictionaries({"value": clean_text}),
    "CODE": st.fixed_dictionaries({"code": codes}),
    "CODE_MISSING": st.fixed_dictionaries({"how": st.sampled_from(["absent", "empty-seq", "no-value", "text"])}),
    "CODE_INFERRED": st.fixed_dictionaries({"code": codes}),
    "NUM": st.fixed_dictionaries({"value": decimal_strings, "unit": st.sampled_from([None, "mm", "Gym2", "1"])}),
    "NUM_FLOAT": st.fixed_dictionaries({"value": decimal_strings, "float": st.floats(allow_nan=True)}),
    "NUM_NO_MVS": st.fixed_dictionaries({"qualifier": st.sampled_from([None, "114006", "114010", "999"])}),
    "NUM_GARBAGE": st.fixed_dictionaries({"raw": garbage_ds, "empty_mvs": st.booleans()}),
    "IMAGE": st.fixed_dictionaries({
        "uids": st.lists(uids, min_size=1, max_size=2),
        "blank": st.booleans(),  # an extra reference with an empty Referenced SOP Instance UID
        "frames": st.sampled_from([None, [1, 2], b"ab\\3 ", b"\xff\xfe", b"7 "]),
    }),
    "IMAGE_INVALID": st.fixed_dictionaries({"how": st.sampled_from(["absent", "empty-seq", "empty-uid", "raw-uid"])}),
    "SCOORD": st.fixed_dictionaries({
        "graphic_type": st.sampled_from([None, "POINT", "POLYLINE", "CIRCLE", "FOO"]),
        "data": st.one_of(st.none(), st.lists(float32s, max_size=7), st.sampled_from([b"abc", b"abcdef", b""])),
    }),
    "SCOORD3D": st.fixed_dictionaries({"data": st.lists(float32s, max_size=7), "frame_of_reference": uids}),
    "PNAME": st.fixed_dictionaries({"family": short_word, "given": st.sampled_from(["", "John", "Jörg"])}),
    "UIDREF": st.fixed_dictionaries({"uid": uids}),
    "DATE": st.fixed_dictionaries({"value": st.sampled_from(["20240102", "2024", "garbage!"])}),
    "DATETIME": st.fixed_dictionaries({"value": st.sampled_from(["20240102101112", "20240102101112+0100"])}),
    "UNKNOWN_VT": st.fixed_dictionaries({"vt": st.sampled_from(["FOO", "T EXT", "99PRIVATE"])}),
    "NOTHING": st.fixed_dictionaries({}),
    "BYREF": st.fixed_dictionaries({"mode": st.sampled_from(["existing", "existing", "ancestor", "self", "nowhere"])}),
}


@st.composite
def specs(draw: st.DrawFn, depth_left: int) -> Spec:
    kind = draw(st.sampled_from(KINDS))
    params = dict(draw(PARAMS[kind]))
    params["concept"] = draw(st.one_of(st.none(), codes))
    params["relationship"] = draw(st.sampled_from(RELATIONSHIPS))
    spec = Spec(kind, params)
    if kind not in LEAVES and depth_left > 0:
        count = draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))
        spec.children = [draw(specs(depth_left - 1)) for _ in range(count)]
    return spec


@st.composite
def documents(draw: st.DrawFn, depth: int = 4, chain: int = 0) -> Document:
    """A random SR document; ``chain`` > 0 adds a branch of that many nested containers."""
    root = Spec("CONTAINER", {"concept": ("18748-4", "LN", "Diagnostic imaging report"), "relationship": None,
                              "template": draw(st.sampled_from([None, ("DCMR", "2000")]))})
    root.children = draw(st.lists(specs(depth), min_size=0, max_size=4))
    if chain:
        link = Spec("CONTAINER", {"concept": None, "relationship": "CONTAINS", "template": None})
        root.children.insert(draw(st.integers(0, len(root.children))), link)
        for _ in range(chain - 1):
            inner = Spec("CONTAINER", {"concept": None, "relationship": "CONTAINS", "template": None})
            link.children = [draw(specs(0)), inner]
            link = inner
        link.children = [draw(specs(1))]
    _number(root, "1")
    paths = [s.path for s, _ in _all(root)]
    for spec, ancestors in _with_ancestors(root):
        if spec.kind != "BYREF":
            continue
        mode = spec.params["mode"]
        if mode == "existing":
            target = draw(st.sampled_from(paths))
        elif mode == "ancestor":
            target = draw(st.sampled_from(ancestors))
        elif mode == "self":
            target = spec.path
        else:
            target = draw(st.sampled_from(["", "0", "2", "1.99", "1.1.1.1.1.1.1.9", "4294967295"]))
        spec.target = tuple(int(p) for p in target.split(".") if p)
    charset = draw(st.sampled_from([None, "ISO_IR 100", "ISO_IR 192"]))
    ds = _dataset(root)
    if charset:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID, ds.SOPInstanceUID = ComprehensiveSRStorage, "1.2.3.4"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.Modality = "1.2.3", "1.2.3.5", "SR"
    return Document(ds, root)


def _number(spec: Spec, path: str) -> None:
    spec.path = path
    for index, child in enumerate(spec.children, start=1):
        _number(child, f"{path}.{index}")


def _all(spec: Spec, depth: int = 0) -> Iterator[tuple[Spec, int]]:
    yield spec, depth
    for child in spec.children:
        yield from _all(child, depth + 1)


def _with_ancestors(spec: Spec, ancestors: tuple[str, ...] = ()) -> Iterator[tuple[Spec, list[str]]]:
    yield spec, list(ancestors)
    for child in spec.children:
        yield from _with_ancestors(child, (*ancestors, spec.path))


# --- Datasets out of specs -----------------------------------------------------------------------------------


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator = value, scheme
    if meaning:
        item.CodeMeaning = meaning
    return item


def _raw(ds: Dataset, keyword: str, vr: str, value: bytes) -> None:
    """Put ``value`` into ``ds`` undecoded, as dcmread leaves it until first use."""
    tag = Tag(keyword)
    ds[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True)


def _dataset(spec: Spec) -> Dataset:
    ds = Dataset()
    p = spec.params
    if p.get("relationship"):
        ds.RelationshipType = p["relationship"]
    if p.get("concept"):
        ds.ConceptNameCodeSequence = [_code(*p["concept"])]  # type: ignore[misc]
    kind = spec.kind
    if kind == "CONTAINER":
        ds.ValueType = "CONTAINER"
        if p["template"] is not None:
            resource, identifier = p["template"]  # type: ignore[misc]
            template = Dataset()
            if resource:
                template.MappingResource = resource
            template.TemplateIdentifier = identifier
            ds.ContentTemplateSequence = [template]
    elif kind == "TEXT":
        _raw(ds, "ValueType", "CS", f"{p['vt']} ".encode()[:4])  # 'text': invalid CS, kept undecoded
        ds.TextValue = f"{p['value']}{p['suffix']}"
    elif kind == "TEXT_EMPTY":
        ds.ValueType = "TEXT"
        if p["value"] is not None:
            ds.TextValue = p["value"]
        if p["code"]:
            ds.ConceptCodeSequence = [_code("X", "DCM", "wrong attribute for TEXT")]
    elif kind == "TEXT_INFERRED":
        ds.TextValue = p["value"]
    elif kind in ("CODE", "CODE_INFERRED"):
        if kind == "CODE":
            ds.ValueType = "CODE"
        ds.ConceptCodeSequence = [_code(*p["code"])]  # type: ignore[misc]
    elif kind == "CODE_MISSING":
        ds.ValueType = "CODE"
        if p["how"] == "empty-seq":
            ds.ConceptCodeSequence = Sequence()
        elif p["how"] == "no-value":
            item = Dataset()
            item.CodeMeaning = "no value"
            ds.ConceptCodeSequence = [item]
        elif p["how"] == "text":
            ds.TextValue = "a CODE with a text value"
    elif kind in ("NUM", "NUM_FLOAT"):
        ds.ValueType = "NUM"
        measured = Dataset()
        measured.NumericValue = p["value"]
        if kind == "NUM_FLOAT":
            measured.FloatingPointValue = p["float"]
        if p.get("unit"):
            measured.MeasurementUnitsCodeSequence = [_code(p["unit"], "UCUM", "")]  # type: ignore[arg-type]
        ds.MeasuredValueSequence = [measured]
    elif kind == "NUM_NO_MVS":
        ds.ValueType = "NUM"
        if p["qualifier"]:
            ds.NumericValueQualifierCodeSequence = [_code(p["qualifier"], "DCM", "")]  # type: ignore[arg-type]
    elif kind == "NUM_GARBAGE":
        ds.ValueType = "NUM"
        measured = Dataset()
        _raw(measured, "NumericValue", "DS", p["raw"])  # type: ignore[arg-type]
        ds.MeasuredValueSequence = [] if p["empty_mvs"] else [measured]
    elif kind == "IMAGE":
        ds.ValueType = "IMAGE"
        refs = []
        for uid in p["uids"]:  # type: ignore[attr-defined]
            ref = Dataset()
            ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", uid
            frames = p["frames"]
            if isinstance(frames, bytes):
                _raw(ref, "ReferencedFrameNumber", "IS", frames)
            elif frames:
                ref.ReferencedFrameNumber = frames
            refs.append(ref)
        if p["blank"]:
            blank = Dataset()
            blank.ReferencedSOPClassUID, blank.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", ""
            refs.append(blank)
        ds.ReferencedSOPSequence = refs
    elif kind == "IMAGE_INVALID":
        ds.ValueType = "IMAGE"
        if p["how"] == "empty-seq":
            ds.ReferencedSOPSequence = Sequence()
        elif p["how"] in ("empty-uid", "raw-uid"):
            ref = Dataset()
            if p["how"] == "empty-uid":
                ref.ReferencedSOPInstanceUID = ""
            else:
                _raw(ref, "ReferencedSOPInstanceUID", "UI", b"\x00\x00")
            ds.ReferencedSOPSequence = [ref]
    elif kind in ("SCOORD", "SCOORD3D"):
        ds.ValueType = kind
        if p.get("graphic_type"):
            ds.GraphicType = p["graphic_type"]
        data = p["data"]
        if isinstance(data, bytes):
            _raw(ds, "GraphicData", "FL", data)
        elif data is not None:
            ds.GraphicData = data
        if kind == "SCOORD3D":
            ds.ReferencedFrameOfReferenceUID = p["frame_of_reference"]
    elif kind == "PNAME":
        ds.ValueType, ds.PersonName = "PNAME", f"{p['family']}^{p['given']}"
    elif kind == "UIDREF":
        ds.ValueType, ds.UID = "UIDREF", p["uid"]
    elif kind == "DATE":
        ds.ValueType = "DATE"
        _raw(ds, "Date", "DA", p["value"].encode())  # type: ignore[attr-defined]
    elif kind == "DATETIME":
        ds.ValueType, ds.DateTime = "DATETIME", p["value"]
    elif kind == "UNKNOWN_VT":
        ds.ValueType = p["vt"]
    elif kind == "BYREF":
        ds.ReferencedContentItemIdentifier = list(spec.target or ())
    if spec.children:
        ds.ContentSequence = [_dataset(c) for c in spec.children]
    return ds


# --- what the walker must give back --------------------------------------------------------------------------


def _expected(spec: Spec) -> tuple[str, object] | None:
    """(value type, value) of a valid TEXT/CODE/NUM (and other readable) item; None for the rest."""
    p = spec.params
    if spec.kind in ("TEXT", "TEXT_INFERRED"):
        return "TEXT", p["value"]
    if spec.kind in ("CODE", "CODE_INFERRED"):
        value, scheme, _ = p["code"]  # type: ignore[misc]
        return "CODE", (SYSTEMS[scheme], value)
    if spec.kind == "NUM":
        return "NUM", format(Decimal(p["value"]), "f")  # type: ignore[arg-type]
    if spec.kind == "NUM_FLOAT":
        number = p["float"]
        if math.isfinite(number):  # type: ignore[arg-type]
            return "NUM", repr(number)
        return "NUM", format(Decimal(p["value"]), "f")  # type: ignore[arg-type]
    if spec.kind == "IMAGE":
        return "IMAGE", tuple(p["uids"])  # type: ignore[arg-type]
    if spec.kind == "PNAME":
        return "PNAME", p["family"]
    if spec.kind == "UIDREF":
        return "UIDREF", p["uid"]
    return None


def _value(item: ContentItem) -> object:
    if item.value_type == "TEXT":
        return item.text
    if item.value_type == "CODE":
        return (item.code.system, item.code.code) if item.code else None
    if item.value_type == "NUM":
        return item.quantity.value if item.quantity else None
    if item.value_type == "IMAGE":
        return tuple(r.sop_instance_uid for r in item.references)
    if item.value_type == "PNAME":
        return item.person.family if item.person else None
    return item.text


def _walk(ds: Dataset) -> WalkResult:
    """walk() as read_header runs it: pydicom's warnings recorded (they become findings), not raised."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        return walk(ds, SOURCE)


def _preorder(root: ContentItem) -> list[ContentItem]:
    items, stack = [], [root]
    while stack:
        item = stack.pop()
        items.append(item)
        stack.extend(reversed(item.children))
    return items


def _check_structure(result: WalkResult) -> None:
    items = _preorder(result.root)
    paths = [i.path for i in items]
    assert len(paths) == len(set(paths)), "paths are unique"
    assert [i.path for i in result.iter()] == paths, "iter() is the tree in document order"
    for item in items:
        assert result.item(item.path) is item
        positions = [int(c.path.rsplit(".", 1)[1]) for c in item.children]
        assert all(c.path.rsplit(".", 1)[0] == item.path for c in item.children), "a child extends its parent"
        assert positions == sorted(set(positions)) and all(p >= 1 for p in positions)
        if item.value_type == "BYREF":
            assert not item.children and item.target_path is not None
        assert all(math.isfinite(c) for c in item.coordinates)


def _oracle_targets(result: WalkResult) -> dict[str, ContentItem | None]:
    """What resolve must return for every BYREF: None when dangling, at a BYREF, at an ancestor, or on a cycle."""
    index = {i.path: i for i in result.iter()}
    edges: dict[str, list[str]] = {}
    for item in index.values():
        edges[item.path] = [c.path for c in item.children]
        target = index.get(item.target_path or "")
        if item.value_type == "BYREF" and target is not None and target.value_type != "BYREF" \
                and not (item.path + ".").startswith(target.path + "."):
            edges[item.path].append(target.path)  # an ancestor is refused anyway: no edge
    expected: dict[str, ContentItem | None] = {}
    for item in index.values():
        if item.value_type != "BYREF":
            continue
        target = index.get(item.target_path or "")
        if target is None or target.value_type == "BYREF" or (item.path + ".").startswith(target.path + "."):
            expected[item.path] = None
            continue
        seen, stack = set(), [target.path]  # does the target lead back to the BYREF item?
        while stack:
            path = stack.pop()
            if path not in seen:
                seen.add(path)
                stack.extend(edges[path])
        expected[item.path] = None if item.path in seen else target
    return expected


def _limit_finding(result: WalkResult) -> bool:
    return any(f.severity is Severity.ERROR and f.where == "" and "not read" in f.message for f in result.findings)


# --- properties ------------------------------------------------------------------------------------------------


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_walk_is_total_deterministic_and_keeps_what_is_valid(doc: Document) -> None:
    first = _walk(doc.ds)
    second = _walk(doc.ds)
    assert first.root == second.root
    assert first.iter() == second.iter()
    assert first.findings == second.findings and first.truncated is second.truncated is False
    _check_structure(first)
    for spec, _ in doc.visited():
        item = first.item(spec.path)
        expected = _expected(spec)
        if spec.kind == "BYREF":
            assert item is not None and item.value_type == "BYREF"
            assert item.target_path == ".".join(map(str, spec.target or ()))
        elif not spec.kept:
            assert item is None
            assert any(f.where == spec.path for f in first.findings), "a dropped item is logged"
        else:
            assert item is not None, spec.kind
        if expected is not None:
            assert item is not None and (item.value_type, _value(item)) == expected, spec.kind
        if spec.kind in ("SCOORD", "SCOORD3D") and item is not None:
            data = spec.params["data"]
            if isinstance(data, list) and all(math.isfinite(v) for v in data):
                assert list(item.coordinates) == [struct.unpack("<f", struct.pack("<f", v))[0] for v in data]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_resolve_returns_the_target_or_none_and_never_loops(doc: Document) -> None:
    result = _walk(doc.ds)
    expected = _oracle_targets(result)
    for item in result.iter():
        resolved = result.resolve(item)
        if item.value_type != "BYREF":
            assert resolved is item
            continue
        assert resolved is expected[item.path], (item.path, item.target_path)
        if resolved is None:
            assert any(f.where == item.path for f in result.findings)
        else:
            assert resolved.value_type != "BYREF"
            assert not (item.path + ".").startswith(resolved.path + "."), "never an ancestor"
    findings = list(result.findings)
    for item in result.iter():
        result.resolve(item)
    assert result.findings == findings, "resolving again adds no duplicate findings"
    _expand(result, result.root, ())


def _expand(result: WalkResult, item: ContentItem, on_path: tuple[str, ...]) -> None:
    """Follow children and resolved references as a consumer would: no path may come back to itself."""
    assert item.path not in on_path, f"cycle through {item.path}"
    for child in item.children:
        target = result.resolve(child) if child.value_type == "BYREF" else child
        if target is not None:
            _expand(result, target, (*on_path, item.path))


def _datasets(ds: Dataset) -> Iterator[Dataset]:
    yield ds
    for tag in ds.keys():
        element = ds.get_item(tag)  # never ds[tag]: that would convert the raw elements
        if element.VR == "SQ" and not isinstance(element, RawDataElement):
            for item in element.value:
                yield from _datasets(item)


def _round_trip(ds: Dataset) -> Dataset:
    """``ds`` written to a Part 10 buffer and read back; raw elements are written as they are (garbage too)."""
    for each in _datasets(ds):
        each.set_original_encoding(False, True, each._character_set)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        dcmwrite(buffer, ds, enforce_file_format=True)
    buffer.seek(0)
    return dcmread(buffer)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(depth=3))
def test_walk_after_dcmwrite_dcmread_gives_the_same_tree(doc: Document) -> None:
    expected = _walk(doc.ds)
    read = _round_trip(doc.ds)
    result = _walk(read)
    assert result.iter() == expected.iter()
    assert result.findings == expected.findings
    _check_structure(result)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.integers(1, 4), st.integers(1, 25), st.integers(1, 120))
def test_limits_truncate_with_a_finding(doc: Document, depth: int, items: int, chars: int) -> None:
    full = _walk(doc.ds)
    visited = list(doc.visited())
    text = sum(len(s.params["value"]) for s, _ in visited if s.kind in ("TEXT", "TEXT_INFERRED"))  # type: ignore[arg-type]
    over = len(visited) > items or max((d for _, d in visited), default=0) > depth or text > chars
    with mock.patch.multiple(tree, MAX_DEPTH=depth, MAX_ITEMS=items, MAX_TEXT_CHARS=chars):
        limited = _walk(doc.ds)
    assert limited.truncated is over
    assert _limit_finding(limited) is over
    _check_structure(limited)
    if not over:
        assert limited.root == full.root
        return
    complete = {i.path: i for i in full.iter()}
    for item in limited.iter():  # what was read is what a full walk reads there, children aside
        assert replace(item, children=()) == replace(complete[item.path], children=())
    assert all(len(i.path.split(".")) <= depth + 1 for i in limited.iter())
    assert len(limited.iter()) <= items + 1


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(depth=1, chain=tree.MAX_DEPTH + 6))
def test_nesting_beyond_max_depth_is_truncated_not_raised(doc: Document) -> None:
    result = _walk(doc.ds)
    assert result.truncated and _limit_finding(result)
    assert max(len(i.path.split(".")) for i in result.iter()) == tree.MAX_DEPTH + 1
    _check_structure(result)
    again = _walk(_round_trip(doc.ds))
    assert again.truncated and again.iter() == result.iter()


# --- what the properties found, pinned as examples ------------------------------------------------------------


def _document(*items: Dataset) -> Dataset:
    ds = Dataset()
    ds.ValueType = "CONTAINER"
    ds.ContentSequence = list(items)
    return ds


def _container(*items: Dataset) -> Dataset:
    container = Dataset()
    container.RelationshipType, container.ValueType = "CONTAINS", "CONTAINER"
    container.ContentSequence = list(items)
    return container


def _byref(*target: int) -> Dataset:
    item = Dataset()
    item.RelationshipType, item.ReferencedContentItemIdentifier = "INFERRED FROM", list(target)
    return item


def _text(value: str) -> Dataset:
    item = Dataset()
    item.RelationshipType, item.ValueType, item.TextValue = "CONTAINS", "TEXT", value
    return item


@pytest.mark.parametrize("data", [b"abc", b"abcdef"])
def test_graphic_data_of_a_wrong_length_drops_only_the_coordinates(data: bytes) -> None:
    scoord = Dataset()
    scoord.ValueType, scoord.GraphicType = "SCOORD", "POINT"
    _raw(scoord, "GraphicData", "FL", data)  # pydicom raises BytesLengthException on conversion
    scoord.ContentSequence = [_text("child")]
    result = _walk(_document(scoord, _text("after")))
    item = result.item("1.1")
    assert item is not None and item.coordinates == () and item.graphic_type == "POINT"
    assert [c.text for c in item.children] == ["child"]
    assert _value(result.root.children[1]) == "after"
    assert any(f.where == "1.1" and "Graphic Data cannot be read" in f.message for f in result.findings)


def test_non_finite_graphic_data_is_dropped() -> None:
    scoord = Dataset()
    scoord.ValueType, scoord.GraphicType, scoord.GraphicData = "SCOORD", "POLYLINE", [1.0, math.nan, 2.0, 3.0]
    result = _walk(_document(scoord))
    assert result.item("1.1") is not None and result.item("1.1").coordinates == ()  # type: ignore[union-attr]
    assert _walk(_document(scoord)).root == result.root  # NaN made equal walks compare unequal


def test_bad_frame_numbers_keep_the_image_reference() -> None:
    image = Dataset()
    image.ValueType = "IMAGE"
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", "1.2.3"
    _raw(ref, "ReferencedFrameNumber", "IS", b"ab\\3 ")
    image.ReferencedSOPSequence = [ref]
    item = _walk(_document(image)).item("1.1")
    assert item is not None and item.references[0].sop_instance_uid == "1.2.3"
    assert item.references[0].frames == (3,)


def test_mutual_references_resolve_to_none_once() -> None:
    # 1.1.1 refers to 1.2, whose child 1.2.1 refers back to 1.1: expanding either would never end
    result = _walk(_document(_container(_byref(1, 2)), _container(_byref(1, 1)), _byref(1, 2)))
    assert result.resolve(result.item("1.1.1")) is None  # type: ignore[arg-type]
    assert result.resolve(result.item("1.2.1")) is None  # type: ignore[arg-type]
    assert result.resolve(result.item("1.3")) is result.item("1.2")  # type: ignore[arg-type]
    result.resolve(result.item("1.1.1"))  # type: ignore[arg-type]
    cycles = [f for f in result.findings if "cycle" in f.message]
    assert [f.where for f in cycles] == ["1.1.1", "1.2.1"]


def test_a_reference_to_an_ancestor_does_not_make_its_referrer_cyclic() -> None:
    # 1.1.1 -> 1 is refused (an ancestor); 1.2 -> 1.1 is then an ordinary reference
    result = _walk(_document(_container(_byref(1)), _byref(1, 1)))
    assert result.resolve(result.item("1.1.1")) is None  # type: ignore[arg-type]
    assert result.resolve(result.item("1.2")) is result.item("1.1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12.50", "12.50"), ("1e-30", "0.000000000000000000000000000001"), ("1e-99999", "1E-99999"),
     ("-1.5E300", "-1.5E+300"), ("1e99999", None), ("NaN", None), ("1,5", None)],
)
def test_numeric_values_stay_bounded(raw: str, expected: str | None) -> None:
    measured = Dataset()
    _raw(measured, "NumericValue", "DS", raw.encode())
    num = Dataset()
    num.ValueType, num.MeasuredValueSequence = "NUM", [measured]
    item = _walk(_document(num)).item("1.1")
    assert item is not None and item.quantity is not None and item.quantity.value == expected

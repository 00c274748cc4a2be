"""A tolerant walk of an SR content tree into plain content items (sr-mapping.md §8).

It accepts what strict template parsers refuse: missing concept names, missing or unknown value types,
by-reference items, private schemes, NUMs without a measured value. What it cannot read it skips and
records as a finding with the item's path. Limits keep hostile trees bounded: depth, item count and text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from bridge.extract.sr.numeric import quantity_of
from bridge.extract.values import first_code, person_name_of, text
from bridge.model import Code, Finding, PersonName, Severity
from bridge.model.content import ImageReference, Quantity

MAX_DEPTH = 64  # deeper trees are malformed or hostile; PS3.16 templates nest a dozen levels at most
MAX_ITEMS = 200_000
MAX_TEXT_CHARS = 20_000_000

# Value type inferred from the attributes present when Value Type (0040,A040) is missing (sr-mapping.md §8.3)
_INFERRED_VALUE_TYPES = (
    ("TextValue", "TEXT"),
    ("ConceptCodeSequence", "CODE"),
    ("MeasuredValueSequence", "NUM"),
    ("ReferencedSOPSequence", "IMAGE"),
    ("UID", "UIDREF"),
    ("PersonName", "PNAME"),
    ("DateTime", "DATETIME"),
    ("GraphicData", "SCOORD"),
    ("ContentSequence", "CONTAINER"),
)


@dataclass(frozen=True, slots=True)
class ContentItem:
    """One SR content item; ``path`` is its 1-based position list, e.g. "1.3.2"."""

    path: str
    relationship: str | None
    value_type: str
    concept: Code | None
    text: str | None = None  # TEXT, PNAME (display form), UIDREF, DATE/TIME/DATETIME raw
    code: Code | None = None  # CODE value
    person: PersonName | None = None  # PNAME value
    quantity: Quantity | None = None  # NUM value
    references: tuple[ImageReference, ...] = ()  # IMAGE / COMPOSITE / WAVEFORM
    graphic_type: str | None = None  # SCOORD / SCOORD3D
    coordinates: tuple[float, ...] = ()
    frame_of_reference_uid: str | None = None  # SCOORD3D
    observation_uid: str | None = None  # Observation UID (0040,A171)
    observation_datetime: str | None = None  # Observation DateTime (0040,A032), raw DT
    template_id: str | None = None  # Content Template Sequence of a CONTAINER
    target_path: str | None = None  # BYREF: Referenced Content Item Identifier as a path
    children: tuple[ContentItem, ...] = ()

    @property
    def meaning(self) -> str | None:
        return self.concept.display if self.concept else None

    def is_concept(self, concept: Code) -> bool:
        """True when the concept name has the same system and code as ``concept``."""
        return self.concept is not None and (self.concept.system, self.concept.code) == (concept.system, concept.code)

    def has_code(self, system: str, code: str) -> bool:
        """True when the CODE value has this system and code."""
        return self.code is not None and (self.code.system, self.code.code) == (system, code)

    def child(self, concept: Code, relationship: str | None = None) -> ContentItem | None:
        """The first child named ``concept`` (with ``relationship`` when given)."""
        matches = (c for c in self.children if c.is_concept(concept))
        return next((c for c in matches if relationship is None or c.relationship == relationship), None)

    def children_named(self, concept: Code) -> tuple[ContentItem, ...]:
        return tuple(c for c in self.children if c.is_concept(concept))


@dataclass(slots=True)
class WalkResult:
    root: ContentItem
    findings: list[Finding] = field(default_factory=list)
    truncated: bool = False  # a limit was reached: what was read is kept, the rest is missing
    root_source: str = ""
    _index: dict[str, ContentItem] = field(default_factory=dict)
    _cyclic: frozenset[str] | None = field(default=None, compare=False, repr=False)  # BYREF paths on a cycle
    _reported: set[str] = field(default_factory=set, compare=False, repr=False)  # BYREF paths already logged

    def item(self, path: str) -> ContentItem | None:
        """The item at ``path`` ("1.2.3"), or None."""
        return self._index.get(path)

    def resolve(self, item: ContentItem) -> ContentItem | None:
        """The target of a BYREF item (any other item is its own target).

        None, with one finding per item, when the target does not exist, is itself a BYREF, or lies on a cycle:
        it is the item's ancestor, or its content leads back to the item through other by-reference items (then
        every by-reference item on that cycle resolves to None).
        """
        if item.value_type != "BYREF" or item.target_path is None:
            return item
        target = self._index.get(item.target_path)
        problem: str | None = None
        if target is None:
            problem = f"by-reference item points at {item.target_path or '(no path)'}, which does not exist; ignored"
        elif target.value_type == "BYREF":
            problem = f"by-reference item points at {target.path}, another by-reference item; ignored"
        elif _within(item.path, target.path):
            problem = f"by-reference item points at its ancestor {target.path}; ignored"
        elif item.path in self._cycles():
            problem = f"by-reference item points at {target.path}, whose content refers back to it (a cycle); ignored"
        if problem is None:
            return target
        if item.path not in self._reported:
            self._reported.add(item.path)
            self.findings.append(Finding(self.root_source, item.path, problem))
        return None

    def iter(self) -> list[ContentItem]:
        """Every item in document order (depth first), BYREF items included."""
        return list(self._index.values())

    def _cycles(self) -> frozenset[str]:
        """The BYREF items on a cycle of "contains" and "refers to" edges (strongly connected components)."""
        if self._cyclic is None:
            self._cyclic = _byrefs_on_cycles(self._index)
        return self._cyclic


def _within(path: str, ancestor: str) -> bool:
    """True when ``path`` is ``ancestor`` or lies in its subtree."""
    return path == ancestor or path.startswith(ancestor + ".")


def _byrefs_on_cycles(index: dict[str, ContentItem]) -> frozenset[str]:
    """Tarjan's algorithm, iterative: a BYREF is on a cycle when its component holds more than itself."""
    edges: dict[str, list[str]] = {}
    for path, item in index.items():
        if item.value_type == "BYREF":  # references resolve() refuses anyway (ancestors) form no edge
            target = index.get(item.target_path or "")
            refused = target is None or target.value_type == "BYREF" or _within(path, target.path)
            edges[path] = [] if refused else [target.path]
        else:
            edges[path] = [child.path for child in item.children]
    if not any(item.value_type == "BYREF" and edges[path] for path, item in index.items()):
        return frozenset()
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cyclic: set[str] = set()
    for start in index:
        if start in order:
            continue
        work = [(start, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                order[node] = low[node] = len(order)
                stack.append(node)
                on_stack.add(node)
            successors = edges[node]
            if position < len(successors):
                work.append((node, position + 1))
                successor = successors[position]
                if successor not in order:
                    work.append((successor, 0))
                elif successor in on_stack:
                    low[node] = min(low[node], order[successor])
                continue
            if low[node] == order[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cyclic.update(p for p in component if index[p].value_type == "BYREF")
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return frozenset(cyclic)


class _Budget:
    __slots__ = ("items", "text_chars", "exceeded")

    def __init__(self) -> None:
        self.items = 0
        self.text_chars = 0
        self.exceeded: str | None = None


@dataclass(slots=True)
class _Frame:
    """A content item whose children are being read: the explicit stack of the depth-first walk."""

    content: ContentItem
    depth: int  # depth of the children (the root's children are at depth 1)
    sequence: list[Dataset]
    next: int = 0
    children: list[ContentItem] = field(default_factory=list)


def walk(ds: Dataset, source: str) -> WalkResult:
    """The content tree of an SR dataset; the root is the document's top CONTAINER.

    Never raises for malformed content: an item that cannot be read is skipped with a finding naming its path,
    and a tree beyond the limits is cut there (``truncated``) with an ERROR finding.
    """
    result = WalkResult(root=ContentItem("1", None, "CONTAINER", None), root_source=source)
    budget = _Budget()
    try:
        root = ContentItem(
            path="1",
            relationship=None,
            value_type=(text(ds, "ValueType") or "CONTAINER").upper(),
            concept=first_code(ds, "ConceptNameCodeSequence"),
            template_id=template_id(ds),
            observation_uid=text(ds, "ObservationUID"),
        )
    except Exception as exc:  # noqa: BLE001 - a malformed root still has content worth reading
        result.findings.append(Finding(source, "1", f"document root cannot be read ({_reason(exc)}); read as "
                                       "an untitled CONTAINER"))
        root = result.root
    result._index["1"] = root
    stack = [_Frame(root, 1, _content_sequence(ds, "1", source, result))]
    while stack:
        frame = stack[-1]
        if budget.exceeded is None and frame.next < len(frame.sequence):
            frame.next += 1
            budget.items += 1
            if budget.items > MAX_ITEMS:
                budget.exceeded = f"more than {MAX_ITEMS} content items"
                continue
            dataset = frame.sequence[frame.next - 1]
            path = f"{frame.content.path}.{frame.next}"
            try:
                content = _item(dataset, path, source, result, budget)
                readable = content is not None and content.value_type != "BYREF"  # a BYREF has no content
                sequence = _content_sequence(dataset, path, source, result) if readable else []
            except Exception as exc:  # noqa: BLE001 - one unreadable item never costs the rest of the tree
                result.findings.append(Finding(source, path, f"content item cannot be read ({_reason(exc)}); "
                                               "skipped"))
                continue
            if content is None:
                continue
            result._index[path] = content
            if sequence:
                if frame.depth + 1 > MAX_DEPTH:
                    budget.exceeded = f"content tree deeper than {MAX_DEPTH} levels"
                else:
                    stack.append(_Frame(content, frame.depth + 1, sequence))
                    continue
            frame.children.append(content)
            continue
        stack.pop()
        content = frame.content
        if frame.children:
            content = replace(content, children=tuple(frame.children))
            result._index[content.path] = content
        if stack:
            stack[-1].children.append(content)
        else:
            result.root = content
    if budget.exceeded is not None:
        result.truncated = True
        result.findings.append(Finding(source, "", f"{budget.exceeded}; the rest of the content tree is not read",
                                       Severity.ERROR))
    return result


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _content_sequence(ds: Dataset, path: str, source: str, result: WalkResult) -> list[Dataset]:
    """The items of Content Sequence (0040,A730); anything else in their place is a finding."""
    try:
        seq = ds.get("ContentSequence")
    except Exception as exc:  # noqa: BLE001 - e.g. an undecodable sequence in a broken file
        result.findings.append(Finding(source, path, f"Content Sequence cannot be read ({_reason(exc)}); the "
                                       "item's content is missing"))
        return []
    if not seq:
        return []
    items = list(seq) if isinstance(seq, list | tuple | MultiValue | Sequence) else []
    if not items or not all(isinstance(item, Dataset) for item in items):
        result.findings.append(Finding(source, path, "Content Sequence holds something other than items; the "
                                       "item's content is missing"))
        return [item for item in items if isinstance(item, Dataset)]
    return items


def _item(item: Dataset, path: str, source: str, result: WalkResult, budget: _Budget) -> ContentItem | None:
    """One content item without its children; None when it is dropped (with a finding)."""
    relationship = text(item, "RelationshipType")
    if "ReferencedContentItemIdentifier" in item:
        # by-reference relationship (PS3.3 C.17.3.2.5): the target is read where it stands
        target = ".".join(str(int(v)) for v in _values(item.ReferencedContentItemIdentifier))
        return ContentItem(path, relationship, "BYREF", None, target_path=target)
    value_type = text(item, "ValueType")
    if value_type is None:
        value_type = next((vt for keyword, vt in _INFERRED_VALUE_TYPES if keyword in item), None)
        if value_type is None:
            result.findings.append(Finding(source, path, "content item without Value Type skipped", Severity.WARNING))
            return None
        result.findings.append(Finding(source, path, f"Value Type missing; read as {value_type}", Severity.INFO))
    value_type = value_type.upper()
    concept = first_code(item, "ConceptNameCodeSequence")
    fields: dict[str, object] = {}
    if value_type == "TEXT":
        value = _text_value(item)
        if value is None:
            result.findings.append(Finding(source, path, "TEXT item without a value dropped", Severity.INFO))
        else:
            budget.text_chars += len(value)
            if budget.text_chars > MAX_TEXT_CHARS:
                budget.exceeded = f"more than {MAX_TEXT_CHARS} characters of text"
                return None
        fields["text"] = value
    elif value_type == "PNAME":
        name = person_name_of(item, "PersonName")
        fields["person"] = name
        fields["text"] = name.text if name else None
    elif value_type == "UIDREF":
        fields["text"] = text(item, "UID")
    elif value_type in ("DATE", "TIME", "DATETIME"):
        fields["text"] = text(item, {"DATE": "Date", "TIME": "Time", "DATETIME": "DateTime"}[value_type])
    elif value_type == "CODE":
        code = first_code(item, "ConceptCodeSequence")
        if code is None:
            result.findings.append(Finding(source, path, "CODE item without a code value", Severity.WARNING))
        fields["code"] = code
    elif value_type == "NUM":
        fields["quantity"] = quantity_of(item)
    elif value_type in ("IMAGE", "COMPOSITE", "WAVEFORM"):
        references = _references(item)
        if not references:
            result.findings.append(Finding(source, path, f"{value_type} item without a referenced SOP instance "
                                           "dropped"))
            return None
        fields["references"] = references
    elif value_type in ("SCOORD", "SCOORD3D"):
        fields["graphic_type"] = text(item, "GraphicType")
        fields["coordinates"] = _coordinates(item, path, value_type, source, result)
        if value_type == "SCOORD3D":
            fields["frame_of_reference_uid"] = text(item, "ReferencedFrameOfReferenceUID")
    return ContentItem(
        path=path,
        relationship=relationship,
        value_type=value_type,
        concept=concept,
        observation_uid=text(item, "ObservationUID"),
        observation_datetime=text(item, "ObservationDateTime"),
        template_id=template_id(item) if value_type == "CONTAINER" else None,
        **fields,  # type: ignore[arg-type]
    )


def _values(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, list | tuple | MultiValue):
        return list(value)
    return [value]


def _text_value(item: Dataset) -> str | None:
    value = text(item, "TextValue")
    return value if value else None


def _coordinates(item: Dataset, path: str, value_type: str, source: str, result: WalkResult) -> tuple[float, ...]:
    """Graphic Data as given; unreadable or non-finite data is dropped (FHIR decimals hold neither)."""
    if "GraphicData" not in item:
        return ()
    try:
        values = tuple(float(v) for v in _values(item.get("GraphicData")))  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - e.g. a length that is no multiple of 4 bytes
        result.findings.append(Finding(source, path, f"{value_type} Graphic Data cannot be read ({_reason(exc)}); "
                                       "coordinates dropped"))
        return ()
    if not all(math.isfinite(v) for v in values):
        result.findings.append(Finding(source, path, f"{value_type} Graphic Data holds NaN or infinite values; "
                                       "coordinates dropped"))
        return ()
    dimensions = 3 if value_type == "SCOORD3D" else 2
    if len(values) % dimensions:
        result.findings.append(Finding(source, path, f"{value_type} Graphic Data holds {len(values)} values, not "
                                       f"a multiple of {dimensions}; kept as given"))
    return values


def _integers(ds: Dataset, keyword: str) -> tuple[int, ...]:
    """The integer values of an IS element; values that are not integers are left out."""
    raw = text(ds, keyword)
    numbers: list[int] = []
    for part in (raw or "").split("\\"):
        try:
            numbers.append(int(part.strip()))
        except ValueError:
            continue
    return tuple(numbers)


def _references(item: Dataset) -> tuple[ImageReference, ...]:
    refs: list[ImageReference] = []
    for ref in item.get("ReferencedSOPSequence") or ():
        uid = text(ref, "ReferencedSOPInstanceUID")
        if not uid:
            continue
        refs.append(
            ImageReference(
                sop_class_uid=text(ref, "ReferencedSOPClassUID") or "",
                sop_instance_uid=uid,
                frames=_integers(ref, "ReferencedFrameNumber"),
                segments=_integers(ref, "ReferencedSegmentNumber"),
            )
        )
    return tuple(refs)


def template_id(ds: Dataset) -> str | None:
    """The DCMR Template Identifier of a CONTAINER or document root; None when absent or private."""
    seq = ds.get("ContentTemplateSequence")
    if not seq:
        return None
    resource = text(seq[0], "MappingResource")
    if resource not in (None, "DCMR"):
        return None  # a private template: generic handling (sr-mapping.md §1.2)
    return text(seq[0], "TemplateIdentifier")

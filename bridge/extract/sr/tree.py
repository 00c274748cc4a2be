"""A tolerant walk of an SR content tree into plain content items (sr-mapping.md §8).

It accepts what strict template parsers refuse: missing concept names, missing or unknown value types,
by-reference items, private schemes, NUMs without a measured value. What it cannot read it skips and
records as a finding with the item's path. Limits keep hostile trees bounded: depth, item count and text.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pydicom.dataset import Dataset

from bridge.extract.sr.numeric import quantity_of
from bridge.extract.values import first_code, person_name, text
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

    def item(self, path: str) -> ContentItem | None:
        """The item at ``path`` ("1.2.3"), or None."""
        return self._index.get(path)

    def resolve(self, item: ContentItem) -> ContentItem | None:
        """The target of a BYREF item; None (and a finding) when it is missing or an ancestor (a cycle)."""
        if item.target_path is None:
            return item
        target = self._index.get(item.target_path)
        if target is None or target.value_type == "BYREF":
            self.findings.append(Finding(self.root_source, item.path,
                                         f"by-reference item points at {item.target_path}, which does not exist"))
            return None
        if item.path == target.path or item.path.startswith(target.path + "."):
            self.findings.append(Finding(self.root_source, item.path,
                                         f"by-reference item points at its ancestor {target.path}; ignored"))
            return None
        return target

    def iter(self) -> list[ContentItem]:
        """Every item in document order (depth first), BYREF items included."""
        return list(self._index.values())


class _Budget:
    __slots__ = ("items", "text_chars", "exceeded")

    def __init__(self) -> None:
        self.items = 0
        self.text_chars = 0
        self.exceeded: str | None = None


def walk(ds: Dataset, source: str) -> WalkResult:
    """The content tree of an SR dataset; the root is the document's top CONTAINER."""
    result = WalkResult(root=ContentItem("1", None, "CONTAINER", None), root_source=source)
    budget = _Budget()
    children = _children(ds, "1", 1, source, result, budget)
    root = ContentItem(
        path="1",
        relationship=None,
        value_type=text(ds, "ValueType") or "CONTAINER",
        concept=first_code(ds, "ConceptNameCodeSequence"),
        template_id=_template_id(ds),
        observation_uid=text(ds, "ObservationUID"),
        children=children,
    )
    result.root = root
    result._index = {"1": root, **result._index}
    if budget.exceeded is not None:
        result.truncated = True
        result.findings.append(Finding(source, "", f"{budget.exceeded}; the rest of the content tree is not read",
                                       Severity.ERROR))
    return result


def _children(
    ds: Dataset, path: str, depth: int, source: str, result: WalkResult, budget: _Budget
) -> tuple[ContentItem, ...]:
    seq = ds.get("ContentSequence")
    if not seq:
        return ()
    if depth > MAX_DEPTH:
        budget.exceeded = budget.exceeded or f"content tree deeper than {MAX_DEPTH} levels"
        return ()
    items: list[ContentItem] = []
    for index, item in enumerate(seq, start=1):
        if budget.exceeded is not None:
            break
        budget.items += 1
        if budget.items > MAX_ITEMS:
            budget.exceeded = f"more than {MAX_ITEMS} content items"
            break
        item_path = f"{path}.{index}"
        try:
            content = _item(item, item_path, depth, source, result, budget)
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            result.findings.append(Finding(source, item_path, f"content item cannot be read ({exc}); skipped"))
            continue
        if content is not None:
            items.append(content)
    return tuple(items)


def _item(
    item: Dataset, path: str, depth: int, source: str, result: WalkResult, budget: _Budget
) -> ContentItem | None:
    relationship = text(item, "RelationshipType")
    if "ReferencedContentItemIdentifier" in item:
        # by-reference relationship (PS3.3 C.17.3.2.5): the target is read where it stands
        target = ".".join(str(int(v)) for v in _values(item.ReferencedContentItemIdentifier))
        content = ContentItem(path, relationship, "BYREF", None, target_path=target)
        result._index[path] = content
        return content
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
        name = person_name(item.get("PersonName"))
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
        fields["coordinates"] = tuple(float(v) for v in _values(item.get("GraphicData")))
        if value_type == "SCOORD3D":
            fields["frame_of_reference_uid"] = text(item, "ReferencedFrameOfReferenceUID")
    content = ContentItem(
        path=path,
        relationship=relationship,
        value_type=value_type,
        concept=concept,
        observation_uid=text(item, "ObservationUID"),
        observation_datetime=text(item, "ObservationDateTime"),
        template_id=_template_id(item) if value_type == "CONTAINER" else None,
        **fields,  # type: ignore[arg-type]
    )
    result._index[path] = content
    children = _children(item, path, depth + 1, source, result, budget)
    if children:
        content = replace(content, children=children)
        result._index[path] = content
    return content


def _values(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return list(value)  # type: ignore[arg-type]
    return [value]


def _text_value(item: Dataset) -> str | None:
    value = text(item, "TextValue")
    return value if value else None


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
                frames=tuple(int(v) for v in _values(ref.get("ReferencedFrameNumber")) if str(v).strip()),
                segments=tuple(int(v) for v in _values(ref.get("ReferencedSegmentNumber")) if str(v).strip()),
            )
        )
    return tuple(refs)


def _template_id(ds: Dataset) -> str | None:
    seq = ds.get("ContentTemplateSequence")
    if not seq:
        return None
    resource = text(seq[0], "MappingResource")
    if resource not in (None, "DCMR"):
        return None  # a private template: generic handling (sr-mapping.md §1.2)
    return text(seq[0], "TemplateIdentifier")

"""A tolerant walk of an SR content tree into plain content items (sr-mapping.md §8).

It accepts what strict template parsers refuse: missing concept names, unknown value types, by-reference
items, private schemes. What it cannot read it skips and records as a finding with the item's path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from bridge.extract.values import first_code, person_name, text
from bridge.model import Code, Finding, PersonName, Severity

MAX_DEPTH = 64  # deeper trees are malformed or hostile; PS3.16 templates nest a dozen levels at most


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
    children: tuple[ContentItem, ...] = ()

    @property
    def meaning(self) -> str | None:
        return self.concept.display if self.concept else None

    def is_concept(self, concept: Code) -> bool:
        """True when the concept name has the same system and code as ``concept``."""
        return self.concept is not None and (self.concept.system, self.concept.code) == (concept.system, concept.code)


@dataclass(slots=True)
class WalkResult:
    root: ContentItem
    findings: list[Finding] = field(default_factory=list)


def walk(ds: Dataset, source: str) -> WalkResult:
    """The content tree of an SR dataset; the root is the document's top CONTAINER."""
    findings: list[Finding] = []
    children = _children(ds, "1", 1, source, findings)
    root = ContentItem(
        path="1",
        relationship=None,
        value_type=text(ds, "ValueType") or "CONTAINER",
        concept=first_code(ds, "ConceptNameCodeSequence"),
        children=children,
    )
    return WalkResult(root, findings)


def _children(ds: Dataset, path: str, depth: int, source: str, findings: list[Finding]) -> tuple[ContentItem, ...]:
    seq = ds.get("ContentSequence")
    if not seq:
        return ()
    if depth > MAX_DEPTH:
        findings.append(Finding(source, path, f"content tree deeper than {MAX_DEPTH} levels; rest skipped"))
        return ()
    items: list[ContentItem] = []
    for index, item in enumerate(seq, start=1):
        item_path = f"{path}.{index}"
        value_type = text(item, "ValueType")
        if value_type is None:
            if "ReferencedContentItemIdentifier" in item:
                continue  # by-reference relationship (PS3.3 C.17.3.2.5): the target is read where it stands
            findings.append(Finding(source, item_path, "content item without Value Type skipped", Severity.WARNING))
            continue
        items.append(
            ContentItem(
                path=item_path,
                relationship=text(item, "RelationshipType"),
                value_type=value_type,
                concept=first_code(item, "ConceptNameCodeSequence"),
                text=_text_value(item, value_type),
                code=first_code(item, "ConceptCodeSequence") if value_type == "CODE" else None,
                person=person_name(item.get("PersonName")) if value_type == "PNAME" else None,
                children=_children(item, item_path, depth + 1, source, findings),
            )
        )
    return tuple(items)


def _text_value(item: Dataset, value_type: str) -> str | None:
    if value_type == "TEXT":
        value = item.get("TextValue")
        return str(value).strip() if value is not None and str(value).strip() else None
    if value_type == "PNAME":
        name = person_name(item.get("PersonName"))
        return name.text if name else None
    if value_type == "UIDREF":
        return text(item, "UID")
    if value_type == "DATE":
        return text(item, "Date")
    if value_type == "TIME":
        return text(item, "Time")
    if value_type == "DATETIME":
        return text(item, "DateTime")
    return None

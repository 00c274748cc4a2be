"""Narrative rules: every Narrative (resource.text, section.text) has a status and a well-formed XHTML div.

The div is parsed with xml.etree: it must be well-formed XML whose root is `div` in the XHTML namespace, use
only the basic formatting elements of R5 txt-1 (no script, forms, embedded objects), no event-handler attributes
or `javascript:` URLs, and have some content (txt-2). DOCTYPE and entity declarations are refused before parsing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any, Final

from bridge.validate.context import Context, string
from bridge.validate.rules.catalogue import report
from bridge.validate.rules.sections import iter_sections
from bridge.validate.violation import Violation

XHTML: Final = "http://www.w3.org/1999/xhtml"
_STATUSES: Final = frozenset({"generated", "extensions", "additional", "empty"})
# R5 txt-1: the basic formatting elements of HTML 4.0 ch. 7-11 and 15, <a>, images (FHIR narrative rules)
_ALLOWED: Final = frozenset({
    "a", "abbr", "acronym", "address", "b", "bdo", "big", "blockquote", "br", "caption", "cite", "code", "col",
    "colgroup", "dd", "del", "dfn", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
    "ins", "kbd", "li", "map", "area", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike", "strong",
    "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var",
})
_URL_ATTRIBUTES: Final = frozenset({"href", "src"})


def xhtml_problem(div: str) -> str | None:
    """What is wrong with a narrative div, or None if it is acceptable."""
    upper = div.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        return "the div contains a DOCTYPE or entity declaration"
    try:
        root = ET.fromstring(div)
    except ET.ParseError as exc:
        return f"the div is not well-formed XML ({exc})"
    if root.tag != f"{{{XHTML}}}div":
        return f"the root element must be div in the {XHTML} namespace, found {root.tag!r}"
    has_content = False
    for element in root.iter():
        namespace, _, local = element.tag.rpartition("}")
        if namespace.lstrip("{") != XHTML or local not in _ALLOWED:
            return f"element {element.tag!r} is not allowed in narrative (txt-1)"
        for name, value in element.attrib.items():
            attribute = name.rpartition("}")[2].lower()
            if attribute.startswith("on"):
                return f"event-handler attribute {attribute!r} is not allowed in narrative (txt-1)"
            if attribute in _URL_ATTRIBUTES and value.strip().lower().startswith("javascript:"):
                return f"a javascript: URL in {attribute!r} is not allowed in narrative (txt-1)"
        if (element.text and element.text.strip()) or (element.tail and element.tail.strip()) or local == "img":
            has_content = True
    if not has_content:
        return "the div has no non-whitespace content (txt-2)"
    return None


def narrative_violations(text: Any, path: str) -> Iterator[Violation]:
    """Check one Narrative value (absence is the business of the rules that require it)."""
    if text is None:
        return
    if not isinstance(text, dict):
        yield report("eu-img-narrative", path, "text is not a Narrative object")
        return
    status = text.get("status")
    if string(status) not in _STATUSES:
        yield report("eu-img-narrative", f"{path}.status", f"narrative status {status!r} is missing or invalid")
    div = string(text.get("div"))
    if div is None:
        yield report("eu-img-narrative", f"{path}.div", "narrative has no div")
        return
    problem = xhtml_problem(div)
    if problem is not None:
        yield report("eu-img-narrative", f"{path}.div", problem)


def check_narratives(ctx: Context) -> Iterator[Violation]:
    """Every resource.text and every Composition section.text is a valid Narrative (txt-1, txt-2)."""
    for entry in ctx.entries:
        yield from narrative_violations(entry.resource.get("text"), f"{entry.path}.text")
        if entry.type == "Composition":
            for path, section, _ in iter_sections(entry):
                yield from narrative_violations(section.get("text"), f"{path}.text")


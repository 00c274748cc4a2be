"""Generated XHTML narratives: what a person reads of each section and of the whole document."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from fhir.resources.narrative import Narrative

XHTML_NS = "http://www.w3.org/1999/xhtml"


def narrative(body: str, language: str | None = None) -> Narrative:
    """A generated Narrative whose div wraps ``body`` (already XHTML-escaped markup)."""
    lang = f' xml:lang="{escape(language)}" lang="{escape(language)}"' if language else ""
    return Narrative(status="generated", div=f'<div xmlns="{XHTML_NS}"{lang}>{body}</div>')


def paragraphs(texts: Iterable[str]) -> str:
    """Each text as a <p>, line breaks kept as <br/>."""
    return "".join(f"<p>{_lines(text)}</p>" for text in texts)


def table(rows: Sequence[tuple[str, str | None]]) -> str:
    """A two-column table of label/value rows; rows without a value are left out."""
    cells = "".join(f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>" for label, value in rows if value)
    return f"<table>{cells}</table>" if cells else ""


def heading(title: str, level: int = 3) -> str:
    return f"<h{level}>{escape(title)}</h{level}>"


def _lines(text: str) -> str:
    return "<br/>".join(escape(line) for line in text.strip().splitlines())

"""Narrative XHTML checks (txt-1, txt-2 as `eu-img-narrative`) and the Composition/DR status alignment table."""

from __future__ import annotations

import pytest

from bridge.validate.rules.consistency import statuses_aligned
from bridge.validate.rules.narrative import xhtml_problem

NS = 'xmlns="http://www.w3.org/1999/xhtml"'


@pytest.mark.parametrize("div", [
    f"<div {NS}>plain text</div>",
    f'<div {NS} xml:lang="de-DE" lang="de-DE"><table><tr><td id="a"><b>x</b></td></tr></table></div>',
    f'<div {NS}><a href="Observation/obs-1">finding</a><br/>&lt;escaped&gt; &amp; more</div>',
    f'<div {NS}><img src="Binary/b1" alt=""/></div>',
    f'<div {NS}><p style="color:red">styled</p></div>',
])
def test_acceptable_narrative(div: str) -> None:
    assert xhtml_problem(div) is None


@pytest.mark.parametrize(("div", "fragment"), [
    (f"<div {NS}><p>unclosed</div>", "not well-formed"),
    ("<div>no namespace</div>", "namespace"),
    (f"<p {NS}>not a div</p>", "root element"),
    (f"<div {NS}>&nbsp;</div>", "not well-formed"),  # HTML entities are not XML
    (f'<!DOCTYPE div [<!ENTITY x "y">]><div {NS}>&x;</div>', "DOCTYPE"),
    (f"<div {NS}><script>alert(1)</script></div>", "script"),
    (f"<div {NS}><iframe/>x</div>", "iframe"),
    (f'<div {NS}><p onclick="x()">click</p></div>', "onclick"),
    (f'<div {NS}><a href=" JavaScript:x()">x</a></div>', "javascript"),
    (f'<div {NS}><svg xmlns="http://www.w3.org/2000/svg"/>x</div>', "svg"),
    (f"<div {NS}>   <p> </p></div>", "txt-2"),
])
def test_unacceptable_narrative(div: str, fragment: str) -> None:
    problem = xhtml_problem(div)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize(("composition", "report", "aligned"), [
    ("final", "final", True),
    ("preliminary", "preliminary", True),
    ("amended", "modified", True),
    ("corrected", "modified", True),
    ("amended", "amended", True),
    ("final", "preliminary", False),
    ("deprecated", "final", False),
    ("final", "modified", False),
    (None, "final", False),
])
def test_status_alignment(composition: str | None, report: str | None, aligned: bool) -> None:
    assert statuses_aligned(composition, report) is aligned

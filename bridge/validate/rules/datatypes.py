"""Data-type rules (§2.21; checklist §10.11): the uncertainPeriod and data-absent-reason extensions.

A DICOM date/time without a timezone is written as-is with `uncertainPeriod` on the primitive (e.g. `_started`).
From the bundle alone one cannot tell that DICOM lacked the timezone, so only the extension's shape is checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from bridge.validate import codes
from bridge.validate.context import Context, ExtensionSite, obj, string
from bridge.validate.rules.catalogue import report
from bridge.validate.violation import Violation


def _instant(value: str | None) -> datetime | None:
    """A timezone-aware datetime from a FHIR dateTime with time and offset, else None."""
    if value is None or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _uncertain_period_problem(site: ExtensionSite) -> str | None:
    subject = f"{site.primitive} {site.value!r}" if site.primitive else "the element"
    if not isinstance(site.extension.get("valuePeriod"), dict):
        return f"uncertainPeriod on {subject} must carry a valuePeriod (the -12:00..+12:00 span)"
    period = obj(site.extension.get("valuePeriod"))
    start, end = string(period.get("start")), string(period.get("end"))
    if start is None or end is None:
        return f"the uncertainPeriod of {subject} needs both start and end"
    first, last = _instant(start), _instant(end)
    if first is not None and last is not None and first > last:
        return f"the uncertainPeriod of {subject} starts ({start}) after it ends ({end})"
    return None


def check_uncertain_period(ctx: Context) -> Iterator[Violation]:
    """An uncertainPeriod extension carries a valuePeriod with start and end, start not after end.

    The guide's case is a dateTime with a time part (`_started`); the extension's value is a Period wherever it is.
    """
    for entry in ctx.entries:
        for site in entry.extensions:
            if site.extension.get("url") != codes.EXT_UNCERTAIN_PERIOD:
                continue
            problem = _uncertain_period_problem(site)
            if problem is not None:
                yield report("eu-img-uncertain-period", site.path, problem)


def check_data_absent_reason(ctx: Context) -> Iterator[Violation]:
    """A data-absent-reason extension has a valueCode from its (required) value set and sits on an empty primitive."""
    for entry in ctx.entries:
        for site in entry.extensions:
            if site.extension.get("url") != codes.EXT_DATA_ABSENT_REASON:
                continue
            code = site.extension.get("valueCode")
            if string(code) not in codes.DATA_ABSENT_REASONS:
                yield report("eu-img-data-absent-reason", site.path,
                             f"data-absent-reason valueCode {code!r} is not in {codes.DATA_ABSENT_REASON_CS}")
            if site.primitive is not None and site.value is not None:
                yield report("eu-img-data-absent-reason", site.path,
                             f"{site.primitive} has a value ({site.value!r}) and a data-absent-reason")

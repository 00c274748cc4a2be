"""The finding type of the validator and the helpers the CLI uses to print and summarise findings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

ERROR: Final = "error"
WARNING: Final = "warning"


@dataclass(frozen=True, slots=True)
class Violation:
    """One rule failure: the rule id (core, guide or `eu-img-*`), where it is, what is wrong, how bad."""

    rule: str
    path: str  # FHIRPath-like location, e.g. "Bundle.entry[2].resource.section[1].emptyReason"
    message: str
    severity: str  # "error" | "warning"

    def __str__(self) -> str:
        return f"{self.severity} {self.rule} {self.path}: {self.message}"

    @property
    def is_error(self) -> bool:
        """True for error severity, the findings that make a bundle non-conformant."""
        return self.severity == ERROR


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts of a list of violations, for the last line of `dicom-bridge validate`."""

    errors: int
    warnings: int
    by_rule: tuple[tuple[str, int], ...]  # (rule id, count), most frequent first, then by id

    @property
    def ok(self) -> bool:
        """True when there is no error-severity violation (warnings do not fail validation)."""
        return self.errors == 0

    def __str__(self) -> str:
        if not self.errors and not self.warnings:
            return "conformant: no violations"
        verdict = "not conformant" if self.errors else "conformant"
        rules = ", ".join(f"{rule} ×{count}" for rule, count in self.by_rule)
        return f"{verdict}: {self.errors} error(s), {self.warnings} warning(s) ({rules})"


def summarize(violations: Iterable[Violation]) -> Summary:
    """Count errors, warnings and occurrences per rule id."""
    items = list(violations)
    per_rule = Counter(v.rule for v in items)
    ordered = tuple(sorted(per_rule.items(), key=lambda kv: (-kv[1], kv[0])))
    errors = sum(1 for v in items if v.is_error)
    return Summary(errors=errors, warnings=len(items) - errors, by_rule=ordered)


def has_errors(violations: Iterable[Violation]) -> bool:
    """True if any violation has error severity; the CLI exits 1 in that case."""
    return any(v.is_error for v in violations)


def format_violations(violations: Iterable[Violation], prefix: str = "") -> str:
    """One line per violation (`str(v)`), each starting with `prefix` (e.g. "report.json: "); errors first.

    The order within a severity is the order the rules produced them (bundle order); "" for no violations.
    """
    items = list(violations)
    ordered = [v for v in items if v.is_error] + [v for v in items if not v.is_error]
    return "\n".join(f"{prefix}{v}" for v in ordered)

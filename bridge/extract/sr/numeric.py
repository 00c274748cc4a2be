"""NUM content items -> Quantity (sr-mapping.md §0.3): decimal value, UCUM unit, data-absent reason."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from pydicom.dataset import Dataset

from bridge.extract.values import first_code, text
from bridge.model.content import Quantity

UCUM_SYSTEM = "http://unitsofmeasure.org"

# Vendor spellings of UCUM units seen in real RDSRs and measurement SRs -> the UCUM code
UCUM_FIXES = {
    "Gym2": "Gy.m2",
    "Gy*m2": "Gy.m2",
    "mGycm": "mGy.cm",
    "mGy*cm": "mGy.cm",
    "mGy.cm": "mGy.cm",
    "cGycm2": "cGy.cm2",
}
# Numeric Value Qualifier (CID 42) -> FHIR data-absent-reason
ABSENT_REASONS = {
    "114000": "not-a-number",
    "114001": "negative-infinity",
    "114002": "positive-infinity",
    "114003": "error",
    "114004": "error",
    "114005": "error",
    "114006": "error",
    "114007": "not-performed",
    "114008": "error",
    "114009": "error",
    "114010": "unknown",
    "114011": "unknown",
}


def quantity_of(item: Dataset) -> Quantity:
    """The measured value of a NUM item; a NUM without one gets a data-absent reason."""
    measured = item.get("MeasuredValueSequence")
    source: Dataset = measured[0] if measured else item
    value = _decimal(source)
    unit_code = first_code(source, "MeasurementUnitsCodeSequence")
    unit: str | None = None
    ucum: str | None = None
    if unit_code is not None:
        unit = unit_code.display or unit_code.code
        if unit_code.system == UCUM_SYSTEM:
            ucum = UCUM_FIXES.get(unit_code.code, unit_code.code)
    if value is None:
        qualifier = first_code(item, "NumericValueQualifierCodeSequence")
        reason = ABSENT_REASONS.get(qualifier.code, "unknown") if qualifier else "unknown"
        return Quantity(None, unit, ucum, reason)
    return Quantity(value, unit, ucum)


def _decimal(source: Dataset) -> str | None:
    """The value as a decimal string: Floating Point Value when present (full precision), else Numeric Value."""
    try:
        floating = source.get("FloatingPointValue")
    except Exception:  # noqa: BLE001 - e.g. a length that is no multiple of 8 bytes: Numeric Value still counts
        floating = None
    if floating is not None and str(floating) != "":
        try:
            multiple = isinstance(floating, list | tuple) or type(floating).__name__ == "MultiValue"
            number: float | None = float(floating[0] if multiple else floating)
        except (TypeError, ValueError, IndexError):
            number = None
        if number is not None and number == number and abs(number) != float("inf"):
            return repr(number)
    raw = text(source, "NumericValue")
    if raw is None:
        return None
    raw = raw.split("\\")[0].strip()
    try:
        number_text = Decimal(raw)
    except InvalidOperation:
        return None
    if not number_text.is_finite() or abs(number_text) > _LARGEST:
        return None  # beyond a double: not a number DICOM can mean (and '1e99999' would print 100 000 digits)
    fixed = format(number_text, "f")  # the digits DICOM gave are kept, without an exponent
    return fixed if len(fixed) <= _MAX_FIXED_DIGITS else str(number_text)  # a FHIR decimal may use an exponent


_LARGEST = Decimal("1.7976931348623157e308")
_MAX_FIXED_DIGITS = 40  # a DS holds 16 characters: only exponents make the fixed form longer

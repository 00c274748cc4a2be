"""DICOM value parsing: dates, times, offsets, names, codes."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from bridge.extract.values import code, date_iso, date_time, dt_value, offset_from_dicom, person_name, time_iso
from bridge.model import Code, DicomDateTime


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("20240315", "2024-03-15"), ("2024.03.15", "2024-03-15"), ("20241301", None), ("2024", None), ("", None)],
)
def test_date_iso(raw: str, expected: str | None) -> None:
    assert date_iso(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("101530", "10:15:30"),
        ("1015", "10:15:00"),
        ("10", "10:00:00"),
        ("101530.123", "10:15:30.123"),
        ("10:15:30", "10:15:30"),
        ("256000", None),
        ("abc", None),
    ],
)
def test_time_iso(raw: str, expected: str | None) -> None:
    assert time_iso(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [("+0100", "+01:00"), ("-0530", "-05:30"), ("0100", None), ("+1", None)])
def test_offset_from_dicom(raw: str, expected: str | None) -> None:
    assert offset_from_dicom(raw) == expected


def test_date_time_keeps_offset_only_with_a_time() -> None:
    assert date_time("20240315", "101530", "+01:00") == DicomDateTime("2024-03-15T10:15:30", "+01:00")
    assert date_time("20240315", None, "+01:00") == DicomDateTime("2024-03-15", None)
    assert date_time(None, "101530", None) is None


def test_dt_value_own_offset_wins() -> None:
    assert dt_value("20240315143000-0500", "+01:00") == DicomDateTime("2024-03-15T14:30:00", "-05:00")
    assert dt_value("20240315143000", "+01:00") == DicomDateTime("2024-03-15T14:30:00", "+01:00")


def test_person_name_components() -> None:
    name = person_name("Lindqvist^Erik^Johan^Dr.^MD")
    assert name is not None
    assert (name.family, name.given, name.prefix, name.suffix) == ("Lindqvist", ("Erik", "Johan"), ("Dr.",), ("MD",))
    assert name.text == "Dr. Erik Johan Lindqvist MD"
    assert person_name("") is None


def _code_item(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


@pytest.mark.parametrize(
    ("value", "scheme", "expected"),
    [
        ("121071", "DCM", Code("http://dicom.nema.org/resources/ontology/DCM", "121071", "m")),
        ("59776-5", "LN", Code("http://loinc.org", "59776-5", "m")),
        ("T-D3000", "SRT", Code("http://snomed.info/sct", "51185008", "m")),
        ("X1", "99LOCAL", Code("urn:dicom-bridge:private-scheme:99LOCAL", "X1", "m")),
    ],
)
def test_code_systems(value: str, scheme: str, expected: Code) -> None:
    assert code(_code_item(value, scheme, "m")) == expected

"""DICOM value parsing: dates, times, offsets, names, codes."""

from __future__ import annotations

import io
import warnings

import pytest
from pydicom import dcmread, dcmwrite
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from bridge.extract.values import (
    CharsetFallbackWarning,
    code,
    date_iso,
    date_time,
    dt_value,
    offset_from_dicom,
    person_name,
    person_name_of,
    text,
    time_iso,
)
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


# --- text without a declared character set (sr-mapping.md §7 "Non-UTF-8 text") --------------------------------


def _raw_item(keyword: str, vr: str, value: bytes, charset: str | None = None) -> Dataset:
    """A data set holding ``keyword`` undecoded, as dcmread leaves it until first use."""
    ds = Dataset()
    if charset is not None:
        ds.SpecificCharacterSet = charset
    tag = Tag(keyword)
    ds[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True)
    return ds


@pytest.mark.parametrize(("keyword", "vr"), [("TextValue", "UT"), ("CodeMeaning", "LO"), ("StudyDescription", "LO"),
                                             ("ImageComments", "LT"), ("DerivationDescription", "ST"),
                                             ("StationName", "SH")])
@pytest.mark.parametrize("charset", [None, "", "ISO_IR 6"])
@pytest.mark.parametrize(
    ("encoding", "used", "needle"), [("utf-8", "ISO_IR 192", "UTF-8"), ("latin-1", "ISO_IR 100", "fallback")]
)
def test_undeclared_non_ascii_text_is_utf8_else_latin1(
    keyword: str, vr: str, charset: str | None, encoding: str, used: str, needle: str
) -> None:
    ds = _raw_item(keyword, vr, "Ödem".encode(encoding), charset)
    with pytest.warns(CharsetFallbackWarning) as caught:
        assert text(ds, keyword) == "Ödem"
    warning = caught[0].message
    assert isinstance(warning, CharsetFallbackWarning)
    assert (warning.keyword, warning.character_set) == (keyword, used)
    assert needle in str(warning) and used in str(warning)


@pytest.mark.parametrize(("charset", "encoding"), [("ISO_IR 100", "latin-1"), ("ISO_IR 192", "utf-8")])
def test_declared_character_set_decodes_without_a_warning(charset: str, encoding: str) -> None:
    ds = _raw_item("TextValue", "UT", "Ödem".encode(encoding), charset)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert text(ds, "TextValue") == "Ödem"


def test_ascii_text_without_a_character_set_needs_no_fallback() -> None:
    ds = _raw_item("TextValue", "UT", b"Oedem ")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert text(ds, "TextValue") == "Oedem"


@pytest.mark.parametrize("charset", [None, "ISO_IR 100"])
def test_sequence_items_read_from_a_file_inherit_the_character_set(charset: str | None) -> None:
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    item = Dataset()
    item.TextValue = "Ödem"  # written in Latin-1: ISO_IR 100, or pydicom's default when nothing is declared
    ds.ContentSequence = [item]
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, implicit_vr=False, little_endian=True)
    read = dcmread(io.BytesIO(buffer.getvalue()), force=True).ContentSequence[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert text(read, "TextValue") == "Ödem"
    expected = [] if charset else [("TextValue", "ISO_IR 100")]
    assert [(w.message.keyword, w.message.character_set) for w in caught] == expected  # type: ignore[union-attr]


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_person_name_without_a_character_set_uses_the_fallback_rule(encoding: str) -> None:
    ds = _raw_item("PersonName", "PN", "Jörg^Anna ".encode(encoding))
    with pytest.warns(CharsetFallbackWarning):
        name = person_name_of(ds, "PersonName")
    assert name is not None and (name.family, name.given) == ("Jörg", ("Anna",))
    declared = _raw_item("PersonName", "PN", "Jörg^Anna ".encode(encoding),
                         "ISO_IR 192" if encoding == "utf-8" else "ISO_IR 100")
    assert person_name_of(declared, "PersonName") == name
    assert person_name_of(Dataset(), "PersonName") is None

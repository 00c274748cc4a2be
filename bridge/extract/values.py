"""Typed values out of pydicom elements: strings, numbers, names, dates, codes, issuers."""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

from pydicom.charset import ESC, convert_encodings, decode_bytes, default_encoding, python_encoding
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag
from pydicom.valuerep import TEXT_VR_DELIMS
from pydicom.valuerep import PersonName as DicomPersonName

from bridge.extract.codes import snomed_from_dicom
from bridge.model import Code, DicomDateTime, PersonName
from bridge.model.study import Issuer

# PS3.16 8 coding scheme designators -> FHIR Coding.system (sr-mapping.md §0.1)
SCHEME_SYSTEMS = {
    "DCM": "http://dicom.nema.org/resources/ontology/DCM",
    "SCT": "http://snomed.info/sct",
    "LN": "http://loinc.org",
    "UCUM": "http://unitsofmeasure.org",
    "UMLS": "http://terminology.hl7.org/CodeSystem/umls",
    "NCIt": "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl",
    "RFC5646": "urn:ietf:bcp:47",
    "ISO3166_1": "urn:iso:std:iso:3166",
}
SNOMED_LEGACY_SCHEMES = ("SRT", "SNM3", "99SDM")
SNOMED_SYSTEM = SCHEME_SYSTEMS["SCT"]
PRIVATE_SCHEME_BASE = "urn:dicom-bridge:private-scheme:"


# VRs whose bytes are plain ASCII (PS3.5 6.2): decoded without pydicom's value conversion, which costs
# tens of microseconds per element and dominates header extraction.
_ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"})
# VRs decoded with the Specific Character Set (PS3.5 6.1.2.3); values may hold several with '\\'.
_CHARSET_VRS = frozenset({"LO", "SH", "ST", "LT", "UC", "UT"})
_SPECIFIC_CHARACTER_SET = BaseTag(0x00080005)
# Text with bytes above 0x7F and no Specific Character Set (or only the default repertoire, ISO_IR 6) is decoded
# as strict UTF-8 first, then with this character set, which decodes any bytes (sr-mapping.md §7 "Non-UTF-8 text")
FALLBACK_CHARACTER_SET = "ISO_IR 100"
_FALLBACK_ENCODING = python_encoding[FALLBACK_CHARACTER_SET]
_UTF8 = "ISO_IR 192"


class CharsetFallbackWarning(UserWarning):
    """Non-ASCII text without a declared Specific Character Set was decoded by the fallback rule.

    ``character_set`` is the term used: ISO_IR 192 (the bytes are valid UTF-8) or FALLBACK_CHARACTER_SET.
    The reader turns this warning into a finding; the text itself is kept.
    """

    def __init__(self, keyword: str, character_set: str) -> None:
        self.keyword, self.character_set = keyword, character_set
        how = f"as UTF-8 ({character_set})" if character_set == _UTF8 else f"as {character_set}, the fallback"
        super().__init__(f"{keyword} holds non-ASCII text but no Specific Character Set (0008,0005) is declared; "
                         f"decoded {how}")


def text(ds: Dataset, keyword: str) -> str | None:
    """The stripped string value of ``keyword`` (several values joined by '\\'), or None when absent or empty.

    Text elements still in their raw form are decoded here directly; undecodable text warns exactly as
    pydicom does (the reader turns that warning into a CharacterSetError). Non-ASCII text without a declared
    character set is decoded as strict UTF-8, else as FALLBACK_CHARACTER_SET, with a CharsetFallbackWarning
    (the reader turns that into a finding); it is never dropped.
    """
    tag = _tag(keyword)
    element = ds.get_item(tag)
    if element is None:
        return None
    if isinstance(element, RawDataElement):
        vr = element.VR or dictionary_VR(tag)
        raw = element.value
        if raw is None:
            return None
        if vr in _ASCII_VRS:
            value = raw.decode("ascii", "replace").strip(" \x00")
            return value or None
        if vr in _CHARSET_VRS:
            delimiters = TEXT_VR_DELIMS if vr in ("ST", "LT", "UT") else {0x5C}
            value = _decode(raw, _encodings(ds), delimiters, keyword).strip(" \x00")
            return value or None
    value = ds[tag].value
    if value is None:
        return None
    if not isinstance(value, str):
        value = "\\".join(str(v) for v in value) if _is_multi(value) else str(value)
    value = value.strip()
    return value or None


def _decode(raw: bytes, encodings: list[str], delimiters: set[int], keyword: str) -> str:
    """``raw`` decoded with the data set's character set; undeclared non-ASCII text by the fallback rule."""
    if encodings == [default_encoding] and not raw.isascii() and ESC not in raw:
        try:
            value, used = raw.decode("utf-8"), _UTF8
        except UnicodeDecodeError:
            value, used = raw.decode(_FALLBACK_ENCODING), FALLBACK_CHARACTER_SET
        warnings.warn(CharsetFallbackWarning(keyword, used), stacklevel=3)
        return value
    return decode_bytes(raw, encodings, delimiters)


def person_name_of(ds: Dataset, keyword: str) -> PersonName | None:
    """The PN value of ``keyword`` as PersonName, decoded like text() (with the fallback rule); None when empty."""
    tag = _tag(keyword)
    element = ds.get_item(tag)
    if element is None:
        return None
    if isinstance(element, RawDataElement) and element.value is not None:
        encodings = _encodings(ds)
        if encodings == [default_encoding] and not element.value.isascii() and ESC not in element.value:
            return person_name(_decode(element.value, encodings, set(), keyword).strip(" \x00"))
    return person_name(ds[tag].value)


def raw_bytes(ds: Dataset, keyword: str) -> object:
    """A hashable stand-in for the value of ``keyword``: its undecoded bytes, or the converted value when
    pydicom already converted it (it always converts Specific Character Set); None when absent.

    UNCACHEABLE when the converted value is not a plain string or number.
    """
    element = ds.get_item(_tag(keyword))
    if element is None:
        return None
    if isinstance(element, RawDataElement):
        return element.value
    value = element.value
    if isinstance(value, str | int | float):
        return value
    if _is_multi(value) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return UNCACHEABLE


UNCACHEABLE = object()


@lru_cache(maxsize=4096)
def _tag(keyword: str) -> BaseTag:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(f"not a DICOM keyword: {keyword}")
    return BaseTag(tag)


def _encodings(ds: Dataset) -> list[str]:
    """Python codecs for the data set's Specific Character Set; sequence items inherit their parent's."""
    element = ds.get_item(_SPECIFIC_CHARACTER_SET)
    if element is None:
        return list(convert_encodings(ds._character_set))  # a sequence item: its parent's character set
    value = element.value
    if isinstance(value, bytes):
        terms = tuple(t.strip(" \x00") for t in value.decode("ascii", "replace").split("\\"))
    elif isinstance(value, str):
        terms = (value,)
    else:
        terms = tuple(str(v) for v in value or ())
    return list(_convert_encodings(terms))


def _convert_encodings(terms: tuple[str, ...]) -> tuple[str, ...]:
    known = _KNOWN_ENCODINGS.get(terms)
    if known is not None:
        return known
    encodings = tuple(convert_encodings(list(terms) if any(terms) else ["ISO_IR 6"]))
    if all(not t or t in python_encoding for t in terms):  # unknown terms warn again on every file
        _KNOWN_ENCODINGS[terms] = encodings
    return encodings


_KNOWN_ENCODINGS: dict[tuple[str, ...], tuple[str, ...]] = {}


def integer(ds: Dataset, keyword: str) -> int | None:
    """The IS/US value of ``keyword`` as int (the first of several), or None when absent, empty or not a number."""
    tag = _tag(keyword)
    element = ds.get_item(tag)
    if element is None:
        return None
    if isinstance(element, RawDataElement) and (element.VR or dictionary_VR(tag)) == "IS":
        raw = text(ds, keyword)
        value: Any = raw.split("\\")[0] if raw else None
    else:
        value = ds[tag].value
        if _is_multi(value):
            value = value[0] if len(value) else None
    if value is None or value == "":
        return None
    try:
        return int(float(value)) if isinstance(value, str) and "." in value else int(value)
    except (TypeError, ValueError):
        return None


def strings(ds: Dataset, keyword: str) -> tuple[str, ...]:
    """All values of a multi-valued string element, stripped, empty ones dropped."""
    value = ds.get(keyword)
    if value is None:
        return ()
    values = value if _is_multi(value) else [value]
    return tuple(s for s in (str(v).strip() for v in values) if s)


def person_name(value: Any) -> PersonName | None:
    """A PN value as PersonName (alphabetic group), or None when empty."""
    if value is None or value == "":
        return None
    if _is_multi(value):
        value = value[0] if len(value) else None
        if value is None:
            return None
    pn = value if isinstance(value, DicomPersonName) else DicomPersonName(str(value))
    family = (pn.family_name or "").strip() or None
    given = tuple(p for p in ((pn.given_name or "").split() + (pn.middle_name or "").split()) if p)
    prefix = tuple(p for p in (pn.name_prefix or "").split() if p)
    suffix = tuple(p for p in (pn.name_suffix or "").split() if p)
    display = " ".join([*prefix, *given, *([family] if family else []), *suffix]).strip() or None
    name = PersonName(family=family, given=given, prefix=prefix, suffix=suffix, text=display)
    return None if name.is_empty else name


def _is_multi(value: Any) -> bool:
    return isinstance(value, list | tuple) or type(value).__name__ == "MultiValue"


def utc_offset(ds: Dataset) -> str | None:
    """Timezone Offset From UTC (0008,0201) as "+01:00", or None when absent or malformed."""
    raw = text(ds, "TimezoneOffsetFromUTC")
    return offset_from_dicom(raw) if raw else None


def offset_from_dicom(raw: str) -> str | None:
    """'+0100' -> '+01:00'; None when not of the PS3.5 &ZZXX form."""
    raw = raw.strip()
    if len(raw) != 5 or raw[0] not in "+-" or not raw[1:].isdigit():
        return None
    return f"{raw[:3]}:{raw[3:]}"


def date_iso(raw: str | None) -> str | None:
    """A DA value (YYYYMMDD, or the legacy YYYY.MM.DD) as an ISO date, or None when malformed."""
    if not raw:
        return None
    raw = raw.strip().replace(".", "")
    if len(raw) != 8 or not raw.isdigit():
        return None
    month, day = int(raw[4:6]), int(raw[6:8])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{raw[:4]}-{raw[4:6]}-{raw[6:8]}"


def time_iso(raw: str | None) -> str | None:
    """A TM value (HH[MM[SS[.FFFFFF]]], or the legacy HH:MM:SS) as HH:MM:SS[.ffffff], or None."""
    if not raw:
        return None
    raw = raw.strip().replace(":", "")
    whole, _, fraction = raw.partition(".")
    if not whole.isdigit() or len(whole) not in (2, 4, 6):
        return None
    hh, mm, ss = whole[0:2], whole[2:4] or "00", whole[4:6] or "00"
    if int(hh) > 23 or int(mm) > 59 or int(ss) > 60:
        return None
    result = f"{hh}:{mm}:{min(int(ss), 59):02d}"
    fraction = "".join(ch for ch in fraction if ch.isdigit())[:6]
    return f"{result}.{fraction}" if fraction else result


def date_time(date_raw: str | None, time_raw: str | None, offset: str | None) -> DicomDateTime | None:
    """A DA + TM pair (each may be absent) as DicomDateTime; None when the date is missing or bad."""
    day = date_iso(date_raw)
    if day is None:
        return None
    clock = time_iso(time_raw)
    return DicomDateTime(f"{day}T{clock}" if clock else day, offset if clock else None)


def dt_value(raw: str | None, default_offset: str | None) -> DicomDateTime | None:
    """A DT value (YYYYMMDDHHMMSS.FFFFFF&ZZXX) as DicomDateTime; its own offset wins over the default."""
    if not raw:
        return None
    raw = raw.strip()
    offset = default_offset
    for sign in "+-":
        index = raw.find(sign, 8)
        if index != -1:
            offset = offset_from_dicom(raw[index:])
            raw = raw[:index]
            break
    return date_time(raw[:8], raw[8:] or None, offset)


def code(item: Dataset) -> Code | None:
    """A Code Sequence item as a Code with a FHIR system; legacy SNOMED ids become SCT when known."""
    value = text(item, "CodeValue") or text(item, "LongCodeValue") or text(item, "URNCodeValue")
    scheme = text(item, "CodingSchemeDesignator")
    if value is None:
        return None
    meaning = text(item, "CodeMeaning")
    if scheme in SNOMED_LEGACY_SCHEMES:
        sct = snomed_from_dicom(value, scheme)
        if sct is not None:
            return Code(SNOMED_SYSTEM, sct, meaning)
    if scheme is None:
        return Code(PRIVATE_SCHEME_BASE + "unknown", value, meaning)
    return Code(SCHEME_SYSTEMS.get(scheme, PRIVATE_SCHEME_BASE + scheme), value, meaning)


def first_code(ds: Dataset, keyword: str) -> Code | None:
    """The first item of a code sequence as Code, or None."""
    seq = ds.get(keyword)
    if not seq:
        return None
    return code(seq[0])


def codes(ds: Dataset, keyword: str) -> tuple[Code, ...]:
    """Every item of a code sequence as Code, items without a code value skipped."""
    seq = ds.get(keyword) or ()
    return tuple(c for c in (code(item) for item in seq) if c is not None)


def issuer(local_id: str | None, seq_item: Dataset | None) -> Issuer | None:
    """An identifier issuer from a local name and an HL7 v2 HD-style sequence item (PS3.3 10.14)."""
    universal = text(seq_item, "UniversalEntityID") if seq_item is not None else None
    universal_type = text(seq_item, "UniversalEntityIDType") if seq_item is not None else None
    local = local_id or (text(seq_item, "LocalNamespaceEntityID") if seq_item is not None else None)
    if not (local or universal):
        return None
    return Issuer(local_id=local, universal_id=universal, universal_id_type=universal_type)

"""Read one DICOM file's header (never its pixels) and turn it into an InstanceHeader."""

from __future__ import annotations

import logging
import os
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import BinaryIO

from pydicom import dcmread
from pydicom.datadict import DicomDictionary, dictionary_description, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.filereader import read_partial
from pydicom.sequence import Sequence
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from bridge.errors import (
    CharacterSetError,
    InputError,
    NotAnInstanceError,
    NotDicomError,
    TruncatedError,
    UnsupportedObjectError,
)
from bridge.extract.header import extract_header, required_uids
from bridge.extract.values import CharsetFallbackWarning, text
from bridge.model import Finding, InstanceHeader, InstanceIdentity, Severity

log = logging.getLogger(__name__)

_UNDEFINED_LENGTH = 0xFFFFFFFF
_RAW_DATASET_STARTS = (b"\x02\x00", b"\x08\x00")  # little-endian group 0002 / 0008 tags
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # DICOMDIR, PS3.10 7.2
# pydicom's words for text it could not decode (pydicom/charset.py); anything else it warns about is a finding.
_CHARSET_WARNINGS = ("Unknown encoding", "Failed to decode", "Incorrect value for Specific Character Set")
# pydicom's warning when the file ends before a delimiter; it then drops what it read (filereader.read_dataset).
_EOF_WARNING = "End of file reached"
# What pydicom's reader raises on malformed input; TypeError too, e.g. for a Specific Character Set it decodes as a
# number (filereader.read_dataset passes the value on as if it were text).
_PARSE_ERRORS = (EOFError, OSError, struct.error, ValueError, NotImplementedError, BytesLengthException, TypeError)
# What pydicom raises when it converts a value it cannot (it converts most values lazily, on first access).
_CONVERSION_ERRORS = (NotImplementedError, BytesLengthException)
# Explicit VR codes of the Pixel Data elements; read as an implicit VR length, their bytes give an odd number.
_PIXEL_VRS = (b"OB", b"OW", b"OF", b"OD", b"OL", b"UN")
_SEQUENCE_TAGS = frozenset(tag for tag, entry in DicomDictionary.items() if entry[0] == "SQ")
_CONTENT_SEQUENCE_TAG = 0x0040A730  # its items are read by the SR walker, which tolerates anything in them


def read_header(path: str | os.PathLike[str]) -> InstanceHeader:
    """Read the header of the DICOM file at ``path`` and extract it.

    Pixel data is never read or decoded: the file is parsed up to Pixel Data, whose declared length is
    checked against the file size so that a truncated file is refused rather than half-used.

    Raises:
        NotDicomError, TruncatedError, MissingAttributeError, CharacterSetError, UnsupportedObjectError, InputError:
            the file cannot be used (InputError itself: a value pydicom cannot decode).
    """
    source = str(path)
    with warnings.catch_warnings(record=True) as caught, _decoding(source):
        warnings.simplefilter("always")
        with open(path, "rb") as fp:
            size = os.fstat(fp.fileno()).st_size
            ds = _parse(fp, source)
            if _media_class(ds) == MEDIA_STORAGE_DIRECTORY:
                raise NotAnInstanceError(source, "DICOMDIR (media storage directory), not an instance")
            missing_pixels = _check_complete(ds, fp, size, source)
        misencoded = _drop_misencoded_sequences(ds, source)
        header, unparsable = _extract(ds, source)
    findings = _warnings_to_findings(caught, source) + missing_pixels + misencoded + unparsable
    return header if not findings else _with_findings(header, findings)


_SERIES_INSTANCE_UID_TAG = 0x0020000E


def _after_identity(tag: int, vr: str | None, length: int) -> bool:
    """read_identity stops after Series Instance UID: the four UIDs it needs all come before."""
    return tag > _SERIES_INSTANCE_UID_TAG


def read_identity(path: str | os.PathLike[str]) -> InstanceIdentity:
    """The SOP Class, SOP Instance, Study and Series UIDs of the DICOM file at ``path``.

    Cheaper than read_header; used to place an instance in its study as soon as it arrives.

    Raises:
        NotDicomError, TruncatedError, NotAnInstanceError, MissingAttributeError, InvalidUidError, InputError: the
            file cannot be used.
    """
    source = str(path)
    with warnings.catch_warnings(), _decoding(source):
        warnings.simplefilter("ignore")  # read_header turns them into findings when the study is built
        with open(path, "rb") as fp:
            size = os.fstat(fp.fileno()).st_size
            ds = _parse(fp, source, _after_identity)
            position = fp.tell()
        if _media_class(ds) == MEDIA_STORAGE_DIRECTORY:
            raise NotAnInstanceError(source, "DICOMDIR (media storage directory), not an instance")
        if not len(ds):
            raise NotDicomError(source, "the file holds a DICOM preamble but no data set")
        _check_end(ds, position, size, source)  # a file cut inside an element says so, not that a UID is missing
        uids = required_uids(ds, source)
    return InstanceIdentity(
        sop_class_uid=uids["SOPClassUID"],
        sop_instance_uid=uids["SOPInstanceUID"],
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
    )


def _parse(fp: BinaryIO, source: str, stop_when: Callable[[int, str | None, int], bool] | None = None) -> Dataset:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = _parse_file(fp, source, stop_when)
    for warning in caught:  # passed on: read_header makes findings of them, read_identity ignores them
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    eof = next((str(w.message) for w in caught if str(w.message).startswith(_EOF_WARNING)), None)
    if eof is not None:  # pydicom gave up on the data set (or an item) and kept nothing of it
        raise TruncatedError(source, f"the file ends inside an element: {eof.partition(' in file ')[0]}")
    return ds


def _parse_file(fp: BinaryIO, source: str, stop_when: Callable[[int, str | None, int], bool] | None) -> Dataset:
    try:
        try:
            if stop_when is not None:
                return read_partial(fp, stop_when)
            return dcmread(fp, stop_before_pixels=True)
        except InvalidDicomError as exc:
            # Files written without the PS3.10 preamble (old media, some modalities) start straight with a
            # group 0002 or 0008 element; anything else is not DICOM and is not forced through the parser.
            fp.seek(0)
            if fp.read(2) not in _RAW_DATASET_STARTS:
                raise NotDicomError(source, "not a DICOM file: no 'DICM' prefix after the 128-byte preamble") from exc
            fp.seek(0)
            if stop_when is not None:
                return read_partial(fp, stop_when, force=True)
            return dcmread(fp, stop_before_pixels=True, force=True)
    except _PARSE_ERRORS as exc:
        raise TruncatedError(source, f"the DICOM header cannot be parsed: {exc}") from exc
    except zlib.error as exc:
        raise NotDicomError(source, f"the deflated data set cannot be inflated: {exc}") from exc
    except RecursionError as exc:  # pydicom reads nested sequences recursively
        raise UnsupportedObjectError(source, "sequences are nested too deeply to be read") from exc


@contextmanager
def _decoding(source: str) -> Iterator[None]:
    """A value pydicom cannot convert when it is first read (an unknown VR, a length that does not fit the VR)
    rejects the file with pydicom's words, which name the element."""
    try:
        yield
    except _CONVERSION_ERRORS as exc:
        raise InputError(source, f"an element cannot be decoded: {exc}") from exc


def _drop_misencoded_sequences(ds: Dataset, source: str) -> tuple[Finding, ...]:
    """Remove the elements the dictionary defines as sequences that the file encodes as something else (an SQ
    written as OB): code reading them as sequences would index bytes. Each is a finding. The items of sequences
    already parsed are checked too (those of the dictionary's sequences and of private elements), except Content
    Sequence's (the SR walker reads those item by item, tolerating anything); a sequence still raw is left to be
    parsed when it is read (_extract)."""
    findings = []
    stack = [ds]
    while stack:
        current = stack.pop()
        for tag in list(current.keys()):
            if tag not in _SEQUENCE_TAGS and not tag >> 16 & 1:
                continue  # a standard element that is no sequence (most of them): nothing to check, nothing below
            element = current.get_item(tag, keep_deferred=True)  # no conversion: an unknown VR must not raise here
            vr = getattr(element, "VR", None)
            if vr == "SQ":
                if tag != _CONTENT_SEQUENCE_TAG and isinstance(element.value, Sequence):
                    stack.extend(item for item in element.value if isinstance(item, Dataset))
            elif tag in _SEQUENCE_TAGS and vr not in (None, "UN"):
                del current[tag]
                findings.append(Finding(source, keyword_for_tag(tag), f"{dictionary_description(tag)} {tag} is "
                                        f"encoded as {vr}, not as a sequence; ignored", Severity.WARNING))
    return tuple(findings)


def _extract(ds: Dataset, source: str) -> tuple[InstanceHeader, tuple[Finding, ...]]:
    """extract_header, tolerating sequences whose stored bytes do not hold items.

    pydicom keeps a sequence of defined length as bytes until it is first read; bytes that do not parse (an item
    cut inside an element, say) raise there, in whatever extraction code read it. Then every sequence still raw is
    parsed, those that fail are removed as findings, and the extraction runs again. An error that no unparsable
    sequence explains is raised as it is: it is a fault of the extraction, not of the file.
    """
    try:
        return extract_header(ds, source), ()
    except _PARSE_ERRORS:
        dropped = _drop_unparsable_sequences(ds, source)
        if not dropped:
            raise
    return extract_header(ds, source), dropped


def _drop_unparsable_sequences(ds: Dataset, source: str) -> tuple[Finding, ...]:
    findings = []
    stack = [ds]
    while stack:
        current = stack.pop()
        for tag in list(current.keys()):
            vr = getattr(current.get_item(tag, keep_deferred=True), "VR", None)
            if vr != "SQ" and not (tag in _SEQUENCE_TAGS and vr in (None, "UN")):
                continue
            try:
                value = current[tag].value
            except _PARSE_ERRORS as exc:
                del current[tag]
                name = dictionary_description(tag) if tag in DicomDictionary else "Private sequence"
                findings.append(Finding(source, keyword_for_tag(tag), f"{name} {tag} cannot be parsed as a sequence "
                                        f"({exc}); ignored", Severity.WARNING))
                continue
            if isinstance(value, Sequence):
                stack.extend(item for item in value if isinstance(item, Dataset))
    return tuple(findings)


def _media_class(ds: Dataset) -> str | None:
    meta = getattr(ds, "file_meta", None)
    return text(meta, "MediaStorageSOPClassUID") if meta is not None else None


def _check_complete(ds: Dataset, fp: BinaryIO, size: int, source: str) -> tuple[Finding, ...]:
    """Refuse a file that ends inside an element it declares (header or Pixel Data).

    Returns a finding for an image whose file ends before Pixel Data: a header-only copy, or a file cut
    exactly at that element (the two cannot be told apart).
    """
    if not len(ds):
        raise NotDicomError(source, "the file holds a DICOM preamble but no data set")
    if _deflated(ds):
        return ()  # positions in a deflated stream are not file offsets
    position = fp.tell()
    _check_end(ds, position, size, source)
    if position < size:
        _check_pixel_data_length(ds, fp, position, size, source)
        return ()
    return _missing_pixel_data(ds, source)


def _check_end(ds: Dataset, position: int, size: int, source: str) -> None:
    """Refuse a data set whose last element ends past the end of the file, or, when the parser read up to the end
    (``position``), is followed by less than an element header.

    Raises:
        TruncatedError: the file ends inside an element.
    """
    if _deflated(ds):
        return  # positions in a deflated stream are not file offsets
    last = ds.get_item(next(reversed(ds.keys())))  # a data set read from a file keeps the file's tag order
    value_tell = getattr(last, "value_tell", None)
    length = getattr(last, "length", None)
    if value_tell is None or length is None or length == _UNDEFINED_LENGTH:
        return
    end = value_tell + length
    if end > size:
        raise TruncatedError(source, f"the file ends inside element {last.tag} (needs {end} bytes, has {size})")
    if end < size <= position:
        raise TruncatedError(source, f"the file ends inside the element header after {last.tag}")


def _deflated(ds: Dataset) -> bool:
    return getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None) == DeflatedExplicitVRLittleEndian


def _missing_pixel_data(ds: Dataset, source: str) -> tuple[Finding, ...]:
    """A finding for a file of an image SOP class (PS3.6 '... Image Storage') that has no Pixel Data."""
    sop_class = text(ds, "SOPClassUID")
    if sop_class is None or "Image Storage" not in UID(sop_class).name:
        return ()
    message = "no Pixel Data (header-only or truncated file); the header is used"
    return (Finding(source, "PixelData", message, Severity.WARNING),)


def _check_pixel_data_length(ds: Dataset, fp: BinaryIO, position: int, size: int, source: str) -> None:
    fp.seek(position)
    head = fp.read(12)
    little = ds.original_encoding[1] if ds.original_encoding[1] is not None else True
    endian = "<" if little else ">"
    if len(head) < 8:
        raise TruncatedError(source, "the file ends inside the Pixel Data element header", "PixelData")
    # The bytes tell, not the transfer syntax: pydicom reads a data set whose VR encoding contradicts its transfer
    # syntax as it finds it (with a warning), and so must this.
    implicit = head[4:6] not in _PIXEL_VRS
    if implicit:
        (length,) = struct.unpack(endian + "L", head[4:8])
        header_length = 8
    else:
        if len(head) < 12:
            raise TruncatedError(source, "the file ends inside the Pixel Data element header", "PixelData")
        (length,) = struct.unpack(endian + "L", head[8:12])
        header_length = 12
    if length != _UNDEFINED_LENGTH and position + header_length + length > size:
        raise TruncatedError(
            source,
            f"Pixel Data declares {length} bytes but the file holds {size - position - header_length}",
            "PixelData",
        )


def _warnings_to_findings(caught: list[warnings.WarningMessage], source: str) -> tuple[Finding, ...]:
    findings: list[Finding] = []
    for warning in caught:
        message = str(warning.message)
        if isinstance(warning.message, CharsetFallbackWarning):  # undeclared character set: decoded, text kept
            severity = Severity.INFO if warning.message.character_set == "ISO_IR 192" else Severity.WARNING
            findings.append(Finding(source, warning.message.keyword, message, severity))
            continue
        if any(marker in message for marker in _CHARSET_WARNINGS):
            raise CharacterSetError(source, f"text cannot be decoded: {message}", "SpecificCharacterSet")
        findings.append(Finding(source, "", f"pydicom: {message}", Severity.WARNING))
    return tuple(dict.fromkeys(findings))


def _with_findings(header: InstanceHeader, findings: tuple[Finding, ...]) -> InstanceHeader:
    return replace(header, findings=header.findings + findings)
